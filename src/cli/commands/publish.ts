// `modelgate publish`: hash a model file and write (or server-side apply) its ModelCheckpoint.
import path from 'node:path';
import { API_VERSION, KIND, type ModelCheckpoint, type ModelCheckpointSpec, type ObjectMeta } from '../../api/types.js';
import { paths } from '../../kube/client.js';
import { GLOBAL_HELP, integerFlag, noMorePositionals, parseCommand, required } from '../args.js';
import { UsageError } from '../errors.js';
import { bytesText, digestFile, existingFile, fileUri, isUri, readCheckpointManifest, type CheckpointManifest } from '../files.js';
import { kubeContext } from '../kube.js';
import { outputFormat, printData, write, type OutputFormat } from '../output.js';
import { progress, type Progress } from '../progress.js';

export const summary = 'hash a model file and print (or apply) its ModelCheckpoint';

export const help = `Usage: modelgate publish <model file> --model M --version V --deployment D --container C [flags]

Computes the file's sha256 digest and size and writes a ModelCheckpoint manifest to stdout,
or applies it (server-side apply, field manager modelgate-cli) with --apply.

Flags:
  --name <name>            the ModelCheckpoint's name (default: <model>-<version>, lowercased)
  --model <model>          spec.model: the model's name (required)
  --version <version>      spec.version: this checkpoint's version (required)
  --deployment <name>      spec.target.deployment: the Deployment to serve it (required)
  --container <name>       spec.target.container: the container that serves the model (required)
  --model-env <VAR>        spec.target.modelEnv (default MODEL_URI on the operator's side)
  --uri <uri>              where the operator fetches it (default file://<absolute path of the file>)
  --metric <name=value>    a training metric (repeatable), e.g. --metric accuracy=0.93
  --step <n>               training step
  --episode <n>            training episode
  --run-id <id>            training run id
  --template <file>        a ModelCheckpoint manifest whose spec (validation, analysis, rollout, ...)
                           the flags are layered on
  --allow-external-data    set spec.artifact.allowExternalData
  --apply                  apply to the cluster instead of printing
  --force-conflicts        with --apply: take over fields another field manager owns
  -o, --output <format>    yaml (default) or json; with --apply also text (default)

${GLOBAL_HELP}`;

const OPTIONS = {
  name: { type: 'string' },
  model: { type: 'string' },
  version: { type: 'string' },
  deployment: { type: 'string' },
  container: { type: 'string' },
  'model-env': { type: 'string' },
  uri: { type: 'string' },
  metric: { type: 'string', multiple: true },
  step: { type: 'string' },
  episode: { type: 'string' },
  'run-id': { type: 'string' },
  template: { type: 'string' },
  'allow-external-data': { type: 'boolean' },
  apply: { type: 'boolean' },
  'force-conflicts': { type: 'boolean' },
} as const;

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MODEL_RE = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const VERSION_RE = /^[A-Za-z0-9]([A-Za-z0-9._+-]*[A-Za-z0-9])?$/;
const CONTAINER_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

function check(value: string, re: RegExp, max: number, flag: string, rule: string): string {
  if (value.length > max || !re.test(value)) throw new UsageError(`${flag} '${value}' is not valid: ${rule}.`);
  return value;
}

/** A default name from model and version: lowercase, other characters become '-'. */
export function defaultName(model: string, version: string): string {
  return `${model}-${version}`
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 253);
}

function parseMetrics(list: string[] | undefined): Record<string, number> | undefined {
  if (!list || list.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    const key = eq > 0 ? item.slice(0, eq).trim() : '';
    const raw = eq > 0 ? item.slice(eq + 1).trim() : '';
    const value = Number(raw);
    if (!key || raw === '' || !Number.isFinite(value)) {
      throw new UsageError(`--metric '${item}' is not name=number: pass e.g. --metric accuracy=0.93.`);
    }
    if (Math.abs(value) > 1e15) throw new UsageError(`--metric ${key}=${raw} is outside ±1e15, which the API does not accept.`);
    out[key] = value;
  }
  if (Object.keys(out).length > 64) throw new UsageError('more than 64 --metric values: the API keeps at most 64 training metrics.');
  return out;
}

type Values = ReturnType<typeof parseCommand<typeof OPTIONS>>['values'];
type Digest = Awaited<ReturnType<typeof digestFile>>;

/** What names the checkpoint and its target, each checked against the API's rules (flags win over the template). */
interface Identity {
  model: string;
  version: string;
  deployment: string;
  container: string;
  modelEnv?: string;
  name: string;
}

function checkIdentity(values: Values, tspec: Partial<ModelCheckpointSpec>): Identity {
  const model = check(values.model ?? required(tspec.model, '--model', 'publish'), MODEL_RE, 128, '--model', 'letters, digits, ".", "_" and "-", starting and ending with a letter or digit, at most 128 characters');
  const version = check(required(values.version, '--version', 'publish'), VERSION_RE, 64, '--version', 'letters, digits, ".", "_", "+" and "-", starting and ending with a letter or digit, at most 64 characters');
  const deployment = check(values.deployment ?? required(tspec.target?.deployment, '--deployment', 'publish'), NAME_RE, 253, '--deployment', 'a Kubernetes object name (lowercase letters, digits, "-" and ".")');
  const container = check(values.container ?? required(tspec.target?.container, '--container', 'publish'), CONTAINER_RE, 63, '--container', 'a container name (lowercase letters, digits and "-", at most 63 characters)');
  const modelEnv = values['model-env'] ?? tspec.target?.modelEnv;
  if (modelEnv !== undefined) {
    check(modelEnv, ENV_RE, 128, '--model-env', 'an environment variable name');
    if (modelEnv === 'MODEL_DIGEST' || modelEnv === 'MODEL_VERSION') throw new UsageError(`--model-env ${modelEnv} is written by the operator itself: pick another variable, e.g. MODEL_URI.`);
  }
  const name = check(values.name ?? defaultName(model, version), NAME_RE, 253, '--name', 'a Kubernetes object name (lowercase letters, digits, "-" and ".")');
  return { model, version, deployment, container, ...(modelEnv !== undefined ? { modelEnv } : {}), name };
}

/** spec.training: the template's, with --step, --episode, --run-id and --metric on it. */
function trainingOf(values: Values, tspec: Partial<ModelCheckpointSpec>, metrics: Record<string, number> | undefined, step: number | undefined, episode: number | undefined): NonNullable<ModelCheckpointSpec['training']> {
  const training = { ...(tspec.training ?? {}) };
  if (step !== undefined) training.step = step;
  if (episode !== undefined) training.episode = episode;
  if (values['run-id'] !== undefined) training.runId = values['run-id'];
  if (metrics) training.metrics = { ...(training.metrics ?? {}), ...metrics };
  return training;
}

/** The file's digest and size, with progress; an unreadable or empty file is the user's to fix. */
async function hashModel(file: { path: string; size: number }, p: Progress): Promise<Digest> {
  p.start(`hashing ${path.basename(file.path)} (${bytesText(file.size)})`);
  let digest: Digest;
  try {
    digest = await digestFile(file.path, (n) => p.update(`hashing ${path.basename(file.path)} (${bytesText(n)} of ${bytesText(file.size)})`));
  } catch (err) {
    p.fail();
    throw new UsageError(`the model file ${file.path} could not be read (${(err as Error).message}): check its permissions.`);
  }
  p.done(digest.digest);
  if (digest.sizeBytes === 0) throw new UsageError(`the model file ${file.path} is empty: publish the real model file.`);
  return digest;
}

/** The ModelCheckpoint: the template's spec and metadata with the identity, artifact and training on them. */
function checkpointManifest(template: CheckpointManifest | undefined, namespace: string | undefined, id: Identity, artifact: ModelCheckpointSpec['artifact'], training: NonNullable<ModelCheckpointSpec['training']>): ModelCheckpoint {
  const tspec: Partial<ModelCheckpointSpec> = template?.spec ?? {};
  const { training: _t, target: _g, artifact: _a, model: _m, version: _v, ...rest } = tspec;
  const spec: ModelCheckpointSpec = {
    model: id.model,
    version: id.version,
    artifact,
    ...(Object.keys(training).length > 0 ? { training } : {}),
    target: { deployment: id.deployment, container: id.container, ...(id.modelEnv !== undefined ? { modelEnv: id.modelEnv } : {}) },
    ...rest,
  };
  const meta: ObjectMeta = { name: id.name };
  if (namespace) meta.namespace = namespace;
  if (template?.metadata?.labels) meta.labels = template.metadata.labels;
  if (template?.metadata?.annotations) meta.annotations = template.metadata.annotations;
  return { apiVersion: API_VERSION, kind: KIND, metadata: meta, spec };
}

/** Server-side apply (field manager modelgate-cli), then what was applied. */
async function applyManifest(values: Values, namespace: string | undefined, manifest: ModelCheckpoint, format: OutputFormat, digest: string, p: Progress): Promise<void> {
  const name = manifest.metadata.name!;
  const ctx = kubeContext({ kubeconfig: values.kubeconfig, namespace });
  manifest.metadata.namespace = ctx.namespace;
  p.start(`applying ModelCheckpoint ${name} in namespace ${ctx.namespace}`);
  let applied: ModelCheckpoint;
  try {
    applied = await ctx.client.patch<ModelCheckpoint>(paths.checkpoint(ctx.namespace, name), manifest, 'apply', values['force-conflicts'] === true);
  } catch (err) {
    p.fail();
    throw ctx.fail(err, `applying ModelCheckpoint ${name} in namespace ${ctx.namespace}`);
  }
  p.done();
  if (format === 'text') {
    write(`modelcheckpoint.${'modelgate.io'}/${name} applied in namespace ${ctx.namespace} (generation ${applied.metadata.generation ?? '?'}, ${digest}); follow it with: modelgate status ${name} -n ${ctx.namespace}`);
  } else {
    printData(format, applied);
  }
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('publish', args, OPTIONS);
  if (values.help) {
    write(help);
    return 0;
  }
  noMorePositionals(positionals, 1, 'publish');
  const file = positionals[0];
  if (!file) throw new UsageError('`modelgate publish` needs the model file as its argument: modelgate publish model.onnx --model M --version V --deployment D --container C.');
  const format = outputFormat(values.output, values.apply ? ['text', 'yaml', 'json'] : ['yaml', 'json'], values.apply ? 'text' : 'yaml', 'publish');

  const template = values.template ? await readCheckpointManifest(values.template, '--template') : undefined;
  const tspec: Partial<ModelCheckpointSpec> = template?.spec ?? {};
  const id = checkIdentity(values, tspec);
  const metrics = parseMetrics(values.metric);
  const step = integerFlag(values.step, '--step');
  const episode = integerFlag(values.episode, '--episode');
  if (values.uri !== undefined && !/^(https|http|file):\/\/\S+$/.test(values.uri)) {
    throw new UsageError(`--uri ${values.uri} is not an https://, http:// or file:// URI without spaces: fix it.`);
  }
  if (values['force-conflicts'] && !values.apply) throw new UsageError('--force-conflicts only makes sense with --apply: add --apply or drop it.');
  if (isUri(file)) throw new UsageError(`publish hashes a local file, not ${file}: download it first and pass the path, with --uri ${file}.`);

  const local = await existingFile(file, 'model file');
  const p = progress({ quiet: values.quiet === true });
  const digest = await hashModel(local, p);
  const artifact = {
    uri: values.uri ?? fileUri(local.path),
    digest: digest.digest,
    sizeBytes: digest.sizeBytes,
    ...(values['allow-external-data'] || tspec.artifact?.allowExternalData ? { allowExternalData: true } : {}),
  };
  const namespace = values.namespace ?? template?.metadata?.namespace;
  const manifest = checkpointManifest(template, namespace, id, artifact, trainingOf(values, tspec, metrics, step, episode));
  if (!values.apply) printData(format === 'json' ? 'json' : 'yaml', manifest);
  else await applyManifest(values, namespace, manifest, format, digest.digest, p);
  return 0;
}
