#!/usr/bin/env node
// `modelgate`: the command-line tool for ModelCheckpoints. Dispatches to src/cli/commands/*;
// every failure is one sentence on stderr (MODELGATE_DEBUG=1 adds the stack), exit code 2 for
// usage and input errors, 1 for the rest.
import { GLOBAL_HELP, GLOBAL_VALUE_FLAGS } from './args.js';
import * as abort from './commands/abort.js';
import * as history from './commands/history.js';
import * as promote from './commands/promote.js';
import * as publish from './commands/publish.js';
import * as rollback from './commands/rollback.js';
import * as status from './commands/status.js';
import * as validate from './commands/validate.js';
import { CliError, sentence, UsageError } from './errors.js';

interface Command {
  summary: string;
  help: string;
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = { publish, status, history, promote, abort, rollback, validate };
const VERSION = '0.1.0';

const HELP = `modelgate: gate trained model checkpoints before production, roll them back after.

Usage: modelgate <command> [arguments] [flags]
       kubectl modelgate <command> [arguments] [flags]   (the same tool as a kubectl plugin)

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`).join('\n')}

Run \`modelgate <command> --help\` for a command's flags.

${GLOBAL_HELP}
  --version               print the version`;

/** The command word: the first argument that is neither a flag nor a global flag's value. */
function splitCommand(argv: string[]): { command?: string; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (GLOBAL_VALUE_FLAGS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return { command: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { rest: argv };
}

export async function main(argv: string[]): Promise<number> {
  const { command, rest } = splitCommand(argv);
  if (command === undefined) {
    if (rest.includes('--version')) {
      process.stdout.write(`modelgate ${VERSION}\n`);
      return 0;
    }
    if (rest.length === 0 || rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${HELP}\n`);
      return rest.length === 0 ? 2 : 0;
    }
    throw new UsageError(`no command given (only ${rest[0]}): run \`modelgate --help\` for the commands.`);
  }
  if (command === 'help') {
    const topic = rest.find((a) => !a.startsWith('-'));
    const cmd = topic !== undefined ? COMMANDS[topic] : undefined;
    if (topic !== undefined && !cmd) throw new UsageError(`there is no command '${topic}': the commands are ${Object.keys(COMMANDS).join(', ')}.`);
    process.stdout.write(`${cmd ? cmd.help : HELP}\n`);
    return 0;
  }
  if (command === 'version') {
    process.stdout.write(`modelgate ${VERSION}\n`);
    return 0;
  }
  const cmd = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!cmd) throw new UsageError(`unknown command '${command}': the commands are ${Object.keys(COMMANDS).join(', ')} (run \`modelgate --help\`).`);
  return cmd.run(rest);
}

function report(err: unknown): number {
  if (process.env.MODELGATE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  if (err instanceof CliError) {
    process.stderr.write(`modelgate: ${sentence(err.message)}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message.split('\n')[0]! : String(err);
  process.stderr.write(`modelgate: ${sentence(`unexpected failure: ${message}; rerun with MODELGATE_DEBUG=1 for details and report it if it persists`)}\n`);
  return 1;
}

const code = await main(process.argv.slice(2)).catch(report);
// Exit once stdout is flushed: a keep-alive socket must not hold the process open.
process.stdout.write('', () => process.exit(code));
