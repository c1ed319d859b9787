// The Open Inference Protocol (KServe v2) request and response bodies, and the outcomes body:
// parsing and validation only, no sockets and no sessions, so every refusal is unit-tested.
// Each refusal is a BadRequest naming the field (or the limit and the setting that raises it).
// Pure: an input is parsed into plain typed arrays and a shape (TensorData); the caller makes
// the onnxruntime tensors (served-model.ts), so loading this module loads no onnxruntime.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Tensor, TensorInfo, TensorType } from '../onnx/session.js';
import { DEFAULT_LIMITS, type RequestLimits } from './limits.js';

export class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** ONNX Runtime element types and their Open Inference Protocol names. */
const V2_DATATYPES: Record<string, string> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

export function v2Datatype(ortType: string): string {
  return V2_DATATYPES[ortType] ?? ortType.toUpperCase();
}

/**
 * The offset where `text` nests deeper than `max` arrays and objects, or -1. One pass that skips
 * string contents, so a body is refused before it is parsed into millions of nested arrays.
 */
export function nestingBeyond(text: string, max: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth -= 1;
    }
  }
  return -1;
}

export function parseJson(text: string, limits: RequestLimits = DEFAULT_LIMITS): Record<string, unknown> {
  const at = nestingBeyond(text, limits.maxJsonDepth);
  if (at >= 0) throw new BadRequest(`request body nests arrays and objects deeper than the limit of ${limits.maxJsonDepth} (MAX_JSON_DEPTH), at offset ${at}.`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BadRequest(`request body is not valid JSON (${(err as Error).message}).`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadRequest('request body must be a JSON object.');
  return parsed as Record<string, unknown>;
}

/**
 * The leaves of nested `data`, in order, without recursion: nesting deeper than `maxDepth`
 * (the tensor's rank) or more than `maxCount` leaves is refused, naming `field`.
 */
export function flattenData(field: string, data: unknown, maxDepth: number, maxCount: number): unknown[] {
  const out: unknown[] = [];
  if (!Array.isArray(data)) return [data];
  // A stack of (array, next index): depth is the stack's height.
  const stack: Array<{ a: unknown[]; i: number }> = [{ a: data, i: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.i >= top.a.length) {
      stack.pop();
      continue;
    }
    const v = top.a[top.i];
    top.i += 1;
    if (Array.isArray(v)) {
      if (stack.length >= maxDepth) throw new BadRequest(`${field}.data nests deeper than its shape's ${maxDepth} dimensions.`);
      stack.push({ a: v, i: 0 });
    } else {
      if (out.length >= maxCount) throw new BadRequest(`${field}.data holds more than the ${maxCount} values its shape needs.`);
      out.push(v);
    }
  }
  return out;
}

/** An input tensor as plain data: what onnxruntime's Tensor is made from (type, data, dims). */
export interface TensorData {
  type: TensorType;
  data: Tensor['data'];
  dims: number[];
}

/** A tensor as the response reads it: onnxruntime's Tensor, or TensorData. */
export type TensorView = Pick<Tensor, 'type' | 'data' | 'dims'>;

const tensor = (type: TensorType, data: Tensor['data'], dims: number[]): TensorData => ({ type, data, dims });

function tensorFromRequest(field: string, info: TensorInfo, shape: number[], data: unknown[]): TensorData {
  const type = info.type as TensorType;
  const numbers = (check: (n: number) => boolean, what: string): number[] =>
    data.map((v, i) => {
      if (typeof v !== 'number' || !check(v)) throw new BadRequest(`${field}.data[${i}] must be ${what}.`);
      return v;
    });
  const typed = (check: (v: unknown) => boolean, what: string): unknown[] =>
    data.map((v, i) => {
      if (!check(v)) throw new BadRequest(`${field}.data[${i}] must be ${what}.`);
      return v;
    });
  switch (type) {
    case 'float32':
      return tensor(type, Float32Array.from(numbers(() => true, 'a number')), shape);
    case 'float64':
      return tensor(type, Float64Array.from(numbers(() => true, 'a number')), shape);
    case 'int8':
      return tensor(type, Int8Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'uint8':
      return tensor(type, Uint8Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'int16':
      return tensor(type, Int16Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'uint16':
      return tensor(type, Uint16Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'int32':
      return tensor(type, Int32Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'uint32':
      return tensor(type, Uint32Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'int64':
      return tensor(type, BigInt64Array.from(numbers(Number.isSafeInteger, 'a safe integer'), (n) => BigInt(n)), shape);
    case 'uint64':
      return tensor(type, BigUint64Array.from(numbers((n) => Number.isSafeInteger(n) && n >= 0, 'a non-negative safe integer'), (n) => BigInt(n)), shape);
    case 'bool':
      return tensor(type, Uint8Array.from(typed((v) => typeof v === 'boolean', 'true or false'), (v) => (v ? 1 : 0)), shape);
    case 'string':
      return tensor(type, typed((v) => typeof v === 'string', 'a string') as string[], shape);
    default:
      throw new BadRequest(`${field}.datatype ${v2Datatype(info.type)} is not supported by this server.`);
  }
}

export function tensorToJson(t: Pick<TensorView, 'type' | 'data'>): unknown[] {
  const data = t.data as ArrayLike<unknown>;
  const out: unknown[] = new Array(data.length);
  for (let i = 0; i < data.length; i += 1) {
    const v = data[i];
    out[i] = typeof v === 'bigint' ? Number(v) : t.type === 'bool' ? Boolean(v) : v;
  }
  return out;
}

/** The model's inputs and outputs, as the server loaded them. */
export interface Signature {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
}

/** A shape's element count, refused over the limit before any data is read (no overflow: it stops early). */
function elementCount(field: string, shape: number[], limits: RequestLimits): number {
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (count > limits.maxTensorElements) {
      throw new BadRequest(`${field}.shape ${JSON.stringify(shape)} holds more than the limit of ${limits.maxTensorElements} elements per tensor (MAX_TENSOR_ELEMENTS).`, 413);
    }
  }
  return count;
}

function checkShape(field: string, info: TensorInfo, shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
    throw new BadRequest(`${field}.shape must be an array of non-negative integers.`);
  }
  if (shape.length !== info.shape.length) {
    throw new BadRequest(`${field}.shape has ${shape.length} dimensions; input "${info.name}" has ${info.shape.length} (${JSON.stringify(info.shape)}).`);
  }
  info.shape.forEach((d, k) => {
    if (typeof d === 'number' && d >= 0 && shape[k] !== d) throw new BadRequest(`${field}.shape[${k}] is ${String(shape[k])}; input "${info.name}" needs ${d}.`);
  });
  return shape as number[];
}

function parseInput(raw: unknown, field: string, sig: Signature, modelName: string, limits: RequestLimits): { info: TensorInfo; tensor: TensorData } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new BadRequest(`${field} must be an object.`);
  const input = raw as Record<string, unknown>;
  if (typeof input.name !== 'string') throw new BadRequest(`${field}.name must be a string.`);
  const info = sig.inputs.find((t) => t.name === input.name);
  if (!info) throw new BadRequest(`${field}.name "${input.name}" is not an input of model ${modelName} (inputs: ${sig.inputs.map((t) => t.name).join(', ')}).`);
  const expectedType = v2Datatype(info.type);
  if (input.datatype !== expectedType) {
    throw new BadRequest(`${field}.datatype must be ${expectedType} for input "${info.name}", not ${JSON.stringify(input.datatype)}.`);
  }
  const shape = checkShape(field, info, input.shape);
  const count = elementCount(field, shape, limits);
  if (input.data === undefined) throw new BadRequest(`${field}.data is missing.`);
  const data = flattenData(field, input.data, Math.max(shape.length, 1), count);
  if (data.length !== count) throw new BadRequest(`${field}.data holds ${data.length} values; shape ${JSON.stringify(shape)} needs ${count}.`);
  return { info, tensor: tensorFromRequest(field, info, shape, data) };
}

function parseOutputs(outputs: unknown, sig: Signature): string[] {
  if (outputs === undefined) return sig.outputs.map((t) => t.name);
  if (!Array.isArray(outputs)) throw new BadRequest('outputs must be an array.');
  return outputs.map((o: unknown, i) => {
    const name = typeof o === 'object' && o !== null ? (o as Record<string, unknown>).name : undefined;
    if (typeof name !== 'string' || !sig.outputs.some((t) => t.name === name)) {
      throw new BadRequest(`outputs[${i}].name must be one of ${sig.outputs.map((t) => t.name).join(', ')}.`);
    }
    return name;
  });
}

/** An inference request body as the session's feeds and the outputs to answer with. */
export function parseInferRequest(body: Record<string, unknown>, sig: Signature, modelName: string, limits: RequestLimits = DEFAULT_LIMITS): { feeds: Record<string, TensorData>; wanted: string[] } {
  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) throw new BadRequest('inputs must be a non-empty array.');
  const feeds: Record<string, TensorData> = {};
  inputs.forEach((raw: unknown, i) => {
    const field = `inputs[${i}]`;
    const { info, tensor: t } = parseInput(raw, field, sig, modelName, limits);
    if (feeds[info.name]) throw new BadRequest(`${field}.name "${info.name}" appears more than once.`);
    feeds[info.name] = t;
  });
  const missing = sig.inputs.filter((t) => !feeds[t.name]).map((t) => t.name);
  if (missing.length > 0) throw new BadRequest(`inputs is missing ${missing.map((n) => `"${n}"`).join(', ')}.`);
  return { feeds, wanted: parseOutputs(body.outputs, sig) };
}

/** The model metadata body (GET /v2/models/{name}): its tensors in v2 names, -1 for a dynamic dimension. */
export function metadataBody(modelName: string, modelVersion: string, sig: Signature, digest: string | undefined): Record<string, unknown> {
  const describe = (t: TensorInfo) => ({ name: t.name, datatype: v2Datatype(t.type), shape: t.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) });
  return {
    name: modelName,
    versions: [modelVersion],
    platform: 'onnxruntime',
    inputs: sig.inputs.map(describe),
    outputs: sig.outputs.map(describe),
    // The digest of the bytes loaded, so a rollout can be checked from outside the pod.
    parameters: { digest },
  };
}

/** The inference response body: the wanted outputs, and the request's id if it gave one. */
export function inferResponse(modelName: string, modelVersion: string, wanted: string[], results: Record<string, TensorView>, id: unknown): Record<string, unknown> {
  const response: Record<string, unknown> = {
    model_name: modelName,
    model_version: modelVersion,
    outputs: wanted.map((name) => {
      const t = results[name] as TensorView;
      return { name, datatype: v2Datatype(t.type), shape: [...t.dims], data: tensorToJson(t) };
    }),
  };
  if (typeof id === 'string') response.id = id;
  return response;
}

const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Whether `authorization` is `Bearer <token>`; compared in constant time over fixed-size hashes. */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  return m !== null && timingSafeEqual(sha(m[1] as string), sha(token));
}

export interface OutcomeDelta {
  impressions: number;
  clicks: number;
  conversions: number;
  revenue: number;
  cost: number;
}

const amount = (v: unknown, field: string, integer: boolean): number => {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    throw new BadRequest(`${field} must be a non-negative ${integer ? 'integer' : 'number'}.`);
  }
  return v;
};

function addEvents(events: unknown, delta: OutcomeDelta): void {
  if (!Array.isArray(events)) throw new BadRequest('events must be an array.');
  if (events.length > 100_000) throw new BadRequest('events holds more than 100000 entries; send batched counts instead.');
  events.forEach((e: unknown, i) => {
    const field = `events[${i}]`;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new BadRequest(`${field} must be an object.`);
    const ev = e as Record<string, unknown>;
    if (ev.type === 'impression') delta.impressions += 1;
    else if (ev.type === 'click') delta.clicks += 1;
    else if (ev.type === 'conversion') delta.conversions += 1;
    else throw new BadRequest(`${field}.type must be "impression", "click" or "conversion".`);
    delta.revenue += amount(ev.revenue, `${field}.revenue`, false);
    delta.cost += amount(ev.cost, `${field}.cost`, false);
  });
}

/** Validates an outcomes body (events and/or batched counts) into one delta, before any counter moves. */
export function parseOutcomes(body: Record<string, unknown>): OutcomeDelta {
  const delta: OutcomeDelta = { impressions: 0, clicks: 0, conversions: 0, revenue: 0, cost: 0 };
  let any = false;
  if (body.events !== undefined) {
    addEvents(body.events, delta);
    any = true;
  }
  for (const key of ['impressions', 'clicks', 'conversions', 'revenue', 'cost'] as const) {
    if (body[key] === undefined) continue;
    delta[key] += amount(body[key], key, key !== 'revenue' && key !== 'cost');
    any = true;
  }
  if (!any) throw new BadRequest('body must hold events or at least one of impressions, clicks, conversions, revenue, cost.');
  return delta;
}
