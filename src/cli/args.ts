// Flag parsing shared by every command (node:util parseArgs, strict), and the global flags.
import { parseArgs } from 'node:util';
import type { ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from './errors.js';

/** Flags every command accepts. */
export const GLOBAL_OPTIONS = {
  kubeconfig: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  output: { type: 'string', short: 'o' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

/** Global flags that take a value (main.ts skips their values when it looks for the command). */
export const GLOBAL_VALUE_FLAGS = new Set(['--kubeconfig', '--namespace', '-n', '--output', '-o']);

export const GLOBAL_HELP = `Global flags:
  --kubeconfig <file>     kubeconfig to use (default: KUBECONFIG, then ~/.kube/config)
  -n, --namespace <ns>    namespace (default: the kubeconfig context's, else "default")
  -o, --output <format>   text, json or yaml where the command supports it
  -q, --quiet             no progress on stderr
  -h, --help              this help`;

/** parseArgs with the global flags, turning its errors into one-sentence usage errors. */
export function parseCommand<const T extends ParseArgsOptionsConfig>(command: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageFromParseError(err, command);
  }
}

function usageFromParseError(err: unknown, command: string): UsageError {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  const flag = /'(-{1,2}[^'\s]+)/.exec(message)?.[1];
  const help = `run \`modelgate ${command} --help\` for its flags`;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown flag ${flag ?? message} for \`modelgate ${command}\`: ${help}.`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/.test(message)) return new UsageError(`the flag ${flag ?? ''} needs a value: ${help}.`);
      return new UsageError(`the flag ${flag ?? ''} takes no value: ${help}.`);
    default:
      return new UsageError(`${message.replace(/\.$/, '')}: ${help}.`);
  }
}

export function required(value: string | undefined, flag: string, command: string): string {
  if (value === undefined || value === '') throw new UsageError(`\`modelgate ${command}\` needs ${flag}: run \`modelgate ${command} --help\` for its flags.`);
  return value;
}

export function noMorePositionals(positionals: string[], max: number, command: string): void {
  if (positionals.length > max) {
    throw new UsageError(`unexpected argument '${positionals[max]}' for \`modelgate ${command}\`: run \`modelgate ${command} --help\` for its usage.`);
  }
}

export function integerFlag(value: string | undefined, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${flag} ${value} is not a whole number of at least ${min}: pass e.g. ${flag} ${Math.max(min, 1)}.`);
  }
  return n;
}

export function positiveNumberFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} ${value} is not a positive number: pass e.g. ${flag} 60.`);
  return n;
}
