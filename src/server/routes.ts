// The inference server's HTTP side: the routes of the Open Inference Protocol and /metrics,
// the method checks, the body limit, the outcomes endpoint's bearer token and the bound on
// inferences in progress. A handler's BadRequest becomes its status and one-sentence error.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServedModel } from './served-model.js';
import { BadRequest, bearerMatches, parseJson, parseOutcomes } from './v2.js';

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  // A declared length over the limit is refused before reading, so the 413 reaches the client.
  const declared = Number(req.headers['content-length']);
  const tooLarge = (): BadRequest => new BadRequest(`request body is larger than the limit of ${limit} bytes (MAX_BODY_BYTES).`, 413);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw tooLarge();
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const ROUTE = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(?:\/(ready|infer|outcomes))?\/?$/;

/** Whether the request's method is `allowed`; if not, the 405 is sent. */
type MethodCheck = (allowed: string) => boolean;

async function handleInfer(model: ServedModel, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // Counted from the first byte read, so slow uploads hold a slot as long as they hold memory.
  if (model.inFlight >= model.maxInFlight) {
    model.metrics.rejected.inc({ ...model.labels, reason: 'busy' });
    sendJson(res, 429, { error: `the server is busy: ${model.maxInFlight} inferences are in progress (MAX_CONCURRENT_INFERENCES); retry after 1 s.` }, { 'retry-after': '1' });
    return;
  }
  model.inFlight += 1;
  const stopTimer = model.metrics.latency.startTimer(model.labels);
  try {
    if (!model.session) throw model.notReady();
    const answer = await model.infer(parseJson(await readBody(req, model.maxBody), model.limits));
    sendJson(res, 200, answer);
    model.metrics.requests.inc({ ...model.labels, outcome: 'success' });
  } catch (err) {
    model.countFailure(err);
    throw err;
  } finally {
    model.inFlight -= 1;
    stopTimer();
  }
}

async function handleOutcomes(model: ServedModel, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const token = model.options.outcomesToken;
  if (token === undefined || token === '') {
    sendJson(res, 403, { error: 'the outcomes endpoint is disabled: this server has no OUTCOMES_TOKEN; set it (from a Secret) to accept outcomes.' });
    return;
  }
  // Checked before the body is read: an unauthenticated body is never parsed or counted.
  if (!bearerMatches(req.headers.authorization, token)) {
    sendJson(res, 401, { error: 'outcomes need the header "Authorization: Bearer <OUTCOMES_TOKEN>"; it is missing or does not match.' }, { 'www-authenticate': 'Bearer realm="outcomes"' });
    return;
  }
  const delta = parseOutcomes(parseJson(await readBody(req, model.maxBody), model.limits));
  model.countOutcomes(delta);
  sendJson(res, 200, { accepted: delta });
}

/** `/v2/models/{name}[/versions/{v}][/ready|/infer|/outcomes]`. */
async function handleModel(model: ServedModel, m: RegExpExecArray, path: string, req: IncomingMessage, res: ServerResponse, only: MethodCheck): Promise<void> {
  const o = model.options;
  let name: string;
  let version: string | undefined;
  try {
    name = decodeURIComponent(m[1] as string);
    version = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
  } catch {
    return sendJson(res, 400, { error: `path ${path} is not valid percent-encoding.` });
  }
  if (name !== o.modelName) return sendJson(res, 404, { error: `model "${name}" is not served here (this server serves "${o.modelName}").` });
  if (version !== undefined && version !== o.modelVersion) {
    return sendJson(res, 404, { error: `version "${version}" of model ${name} is not served here (this server serves "${o.modelVersion}").` });
  }
  const action = m[3];
  if (action === undefined) {
    if (only('GET')) sendJson(res, 200, model.metadata());
  } else if (action === 'ready') {
    if (only('GET')) sendJson(res, model.session ? 200 : 503, { name, ready: model.session !== undefined });
  } else if (action === 'outcomes') {
    if (only('POST')) await handleOutcomes(model, req, res);
  } else if (only('POST')) {
    await handleInfer(model, req, res);
  }
}

async function handle(model: ServedModel, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const method = req.method ?? 'GET';
  const only: MethodCheck = (allowed) => {
    if (method === allowed) return true;
    sendJson(res, 405, { error: `${path} accepts ${allowed} only.` }, { allow: allowed });
    return false;
  };
  if (path === '/v2/health/live') {
    if (only('GET')) sendJson(res, 200, { live: true });
  } else if (path === '/v2/health/ready') {
    if (only('GET')) sendJson(res, model.session ? 200 : 503, model.session ? { ready: true } : { ready: false, reason: model.notReadyReason });
  } else if (path === '/metrics') {
    if (!only('GET')) return;
    const text = await model.registry.metrics();
    res.writeHead(200, { 'content-type': model.registry.contentType });
    res.end(text);
  } else if (path === '/v2' || path === '/v2/') {
    if (only('GET')) sendJson(res, 200, { name: 'modelgate-inference-server', version: '0.1.0', extensions: ['outcomes'] });
  } else {
    const m = ROUTE.exec(path);
    if (m) await handleModel(model, m, path, req, res, only);
    else sendJson(res, 404, { error: `no route for ${path}.` });
  }
}

/** The request listener over one served model: a handler's throw becomes its status and one-sentence error. */
export function listener(model: ServedModel): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(model, req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof BadRequest) {
        sendJson(res, err.status, { error: err.message }, err.status === 413 ? { connection: 'close' } : {});
        return;
      }
      model.log('error', `Request ${req.method} ${req.url} failed: ${(err as Error).message}`);
      sendJson(res, 500, { error: 'internal error.' });
    });
  };
}
