// Kubernetes access for the CLI, through src/kube only: the kubeconfig (--kubeconfig, then
// KUBECONFIG, then ~/.kube/config), the namespace (-n, then the context's, then "default") and
// a client whose writes carry the field manager `modelgate-cli`.
import { existsSync } from 'node:fs';
import { Checkpoints } from '../kube/checkpoints.js';
import { ApiError, KubeClient, loadKubeConfig, paths } from '../kube/client.js';
import { apiFailure, apiMessage, CliError, UsageError } from './errors.js';
import type { ModelCheckpoint } from '../api/types.js';

export const CLI_FIELD_MANAGER = 'modelgate-cli';

export interface KubeContext {
  client: KubeClient;
  checkpoints: Checkpoints;
  namespace: string;
  server: string;
  /** Wraps an API failure as one sentence naming what was being done. */
  fail(err: unknown, doing: string): CliError;
}

export function kubeContext(values: { kubeconfig?: string | undefined; namespace?: string | undefined }): KubeContext {
  const file = values.kubeconfig ?? undefined;
  if (file !== undefined && !existsSync(file)) {
    throw new UsageError(`the kubeconfig file ${file} does not exist: pass an existing file to --kubeconfig.`);
  }
  let kc: ReturnType<typeof loadKubeConfig>;
  try {
    kc = loadKubeConfig(file);
  } catch (err) {
    const where = file ?? process.env.KUBECONFIG ?? '~/.kube/config';
    throw new UsageError(`the kubeconfig ${where} could not be read (${(err as Error).message.split('\n')[0]}): fix it or pass another with --kubeconfig.`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new UsageError('the kubeconfig has no current cluster: set current-context (kubectl config use-context) or pass --kubeconfig.');
  }
  const contextNs = kc.getContextObject(kc.getCurrentContext())?.namespace;
  const namespace = values.namespace ?? (contextNs || 'default');
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || namespace.length > 63) {
    throw new UsageError(`the namespace '${namespace}' is not a valid Kubernetes namespace name: use lowercase letters, digits and '-'.`);
  }
  const client = new KubeClient(kc, { fieldManager: CLI_FIELD_MANAGER, userAgent: 'modelgate-cli/0.1.0', qps: 50, burst: 100 });
  return {
    client,
    checkpoints: new Checkpoints(client),
    namespace,
    server: cluster.server,
    fail: (err, doing) => apiFailure(err, doing, cluster.server, namespace),
  };
}

/** Reads a checkpoint or fails with a sentence saying how to find the right name. */
export async function requireCheckpoint(ctx: KubeContext, name: string): Promise<ModelCheckpoint> {
  try {
    return await ctx.client.get<ModelCheckpoint>(paths.checkpoint(ctx.namespace, name));
  } catch (err) {
    // A 404 for the object names it; a 404 without its name means the CRD is not served.
    if (err instanceof ApiError && err.notFound && apiMessage(err).includes(`"${name}" not found`)) {
      throw new CliError(`ModelCheckpoint ${name} was not found in namespace ${ctx.namespace}: list them with \`modelgate status -n ${ctx.namespace}\` or pass the right -n.`);
    }
    throw ctx.fail(err, `reading ModelCheckpoint ${name} in namespace ${ctx.namespace}`);
  }
}
