// `modelgate promote`: approve a Validated checkpoint held by `rollout.autoDeploy: false`. The
// approval is the annotation modelgate.io/promote=<generation>, so a later spec change (a new
// generation) is held again until someone approves that one too.
import { ANNOTATIONS } from '../../api/types.js';
import { GLOBAL_HELP, noMorePositionals, parseCommand } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { kubeContext, requireCheckpoint } from '../kube.js';
import { outputFormat, printData, write } from '../output.js';

export const summary = 'approve a checkpoint held by rollout.autoDeploy: false';

export const help = `Usage: modelgate promote <name> [-n NS] [-o text|json|yaml]

Sets the annotation ${ANNOTATIONS.promote}=<generation> on the checkpoint: the operator then deploys
that generation although spec.rollout.autoDeploy is false (it still waits while
spec.rollout.paused is true or another checkpoint holds the Deployment). A spec change makes a
new generation, which needs a new promote.

${GLOBAL_HELP}`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('promote', args, {});
  if (values.help) {
    write(help);
    return 0;
  }
  noMorePositionals(positionals, 1, 'promote');
  const name = positionals[0];
  if (!name) throw new UsageError('`modelgate promote` needs the checkpoint name: modelgate promote <name>.');
  const format = outputFormat(values.output, ['text', 'json', 'yaml'], 'text', 'promote');
  const ctx = kubeContext(values);
  const cp = await requireCheckpoint(ctx, name);
  const phase = cp.status?.phase ?? 'Pending';
  const generation = cp.metadata.generation ?? 1;
  if (cp.spec.rollout?.autoDeploy !== false) {
    throw new CliError(`${name} does not wait for approval (spec.rollout.autoDeploy is not false): the operator deploys it once it is Validated.`);
  }
  if (!['Pending', 'Fetching', 'Validating', 'Validated'].includes(phase)) {
    throw new CliError(`${name} is ${phase}, past the point where a promote means anything: only a checkpoint on its way to Validated can be promoted.`);
  }
  try {
    await ctx.checkpoints.setAnnotation(ctx.namespace, name, ANNOTATIONS.promote, String(generation));
  } catch (err) {
    throw ctx.fail(err, `annotating ModelCheckpoint ${name} in namespace ${ctx.namespace}`);
  }
  const outcome = { checkpoint: name, namespace: ctx.namespace, generation, phase, result: 'Promoted' };
  if (format === 'text') {
    write(`Promoted ${name} generation ${generation} (annotation ${ANNOTATIONS.promote}=${generation}); phase ${phase}: the operator deploys it ${phase === 'Validated' ? 'now' : 'once it is Validated'}.`);
  } else printData(format, outcome);
  return 0;
}
