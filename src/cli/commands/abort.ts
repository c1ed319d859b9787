// `modelgate abort`: stop a running analysis and roll back now. The same request as
// `modelgate rollback` (annotation modelgate.io/rollback=true), refused unless the checkpoint is
// deployed and still being watched (Deployed or Monitoring), so it never rolls back a Healthy one.
import { ANNOTATIONS } from '../../api/types.js';
import { GLOBAL_HELP, noMorePositionals, parseCommand } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { kubeContext, requireCheckpoint } from '../kube.js';
import { outputFormat, printData, write } from '../output.js';

export const summary = 'stop a running analysis and roll the checkpoint back';

export const help = `Usage: modelgate abort <name> [-n NS] [-o text|json|yaml]

For a checkpoint in Deployed or Monitoring: sets ${ANNOTATIONS.rollbackRequest}=true, so the operator
stops the live analysis and rolls the Deployment back to the rollback point at once. To roll
back a Healthy checkpoint, or to an older one, use \`modelgate rollback\`.

${GLOBAL_HELP}`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('abort', args, {});
  if (values.help) {
    write(help);
    return 0;
  }
  noMorePositionals(positionals, 1, 'abort');
  const name = positionals[0];
  if (!name) throw new UsageError('`modelgate abort` needs the checkpoint name: modelgate abort <name>.');
  const format = outputFormat(values.output, ['text', 'json', 'yaml'], 'text', 'abort');
  const ctx = kubeContext(values);
  const cp = await requireCheckpoint(ctx, name);
  const phase = cp.status?.phase ?? 'Pending';
  if (phase !== 'Deploying' && phase !== 'Deployed' && phase !== 'Monitoring') {
    throw new CliError(`${name} is ${phase}, not in a running rollout or analysis (Deploying, Deployed or Monitoring): use \`modelgate rollback ${name}\` to take a Healthy checkpoint out.`);
  }
  try {
    await ctx.checkpoints.setAnnotation(ctx.namespace, name, ANNOTATIONS.rollbackRequest, 'true');
  } catch (err) {
    throw ctx.fail(err, `annotating ModelCheckpoint ${name} in namespace ${ctx.namespace}`);
  }
  const outcome = { checkpoint: name, namespace: ctx.namespace, phase, result: 'AbortRequested' };
  if (format === 'text') write(`Abort of ${name} requested (annotation ${ANNOTATIONS.rollbackRequest}=true; phase ${phase}): the operator stops the analysis and rolls back; follow with \`modelgate status ${name} -n ${ctx.namespace}\`.`);
  else printData(format, outcome);
  return 0;
}
