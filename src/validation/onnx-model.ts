// ONNX safety and signature: parse the protobuf with onnx-proto BEFORE onnxruntime sees the file.
// Refuses files that do not parse (InvalidModel), too many nodes or bytes (ModelTooLarge) and
// external-data tensors unless allowed, and then only inside the artifact's own folder
// (UnsafeExternalData).
import { lstat, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { ModelSignature, TensorSignature } from './architecture.js';
import { StageError } from './contract.js';
import { REASONS } from '../api/reasons.js';

/** The onnx-proto namespace (the package is CommonJS; its namespace is a property of the default export). */
export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.ModelProto;

type LongLike = number | { toString(): string } | null | undefined;
/** protobufjs gives int64 fields as Long objects; all the values here fit a double. */
export function toNumber(v: LongLike): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : Number(v.toString());
}

/** ONNX TensorProto.DataType -> the names onnxruntime uses. */
export const ELEMENT_TYPES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128',
  16: 'bfloat16',
};
/** Element type name -> ONNX TensorProto.DataType number. */
export const ELEMENT_TYPE_NUMBERS: Record<string, number> = Object.fromEntries(
  Object.entries(ELEMENT_TYPES).map(([k, v]) => [v, Number(k)]),
);
const ELEMENT_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2 };

export function elementTypeName(dataType: number | null | undefined): string {
  return ELEMENT_TYPES[dataType ?? 0] ?? 'unknown';
}

export interface InspectOptions {
  /** Largest file accepted (bytes). Default 2 GiB (protobuf's own limit). */
  maxBytes?: number;
  /** Largest node count, subgraphs included. Default 100000. */
  maxNodes?: number;
  /** Allow external-data tensors, each inside the artifact's folder. Default false. */
  allowExternalData?: boolean;
  /** The folder external data must stay in; default the model file's folder. */
  artifactDir?: string;
  /** Name used in messages (e.g. "candidate", "baseline"). */
  label?: string;
}

export interface InspectedModel {
  signature: ModelSignature;
  sizeBytes: number;
  /** Relative locations of the external-data files (checked). */
  externalFiles: string[];
}

interface TensorRef {
  tensor: onnxProto.onnx.ITensorProto;
  owner: string;
}

/** Walk the main graph and every subgraph (If/Loop/Scan bodies). */
function walk(graph: onnxProto.onnx.IGraphProto, tensors: TensorRef[], counter: { nodes: number; mlFloats: number }): void {
  for (const init of graph.initializer ?? []) tensors.push({ tensor: init, owner: `initializer '${init.name ?? ''}'` });
  for (const sp of graph.sparseInitializer ?? []) {
    if (sp.values) tensors.push({ tensor: sp.values, owner: `sparse initializer '${sp.values.name ?? ''}'` });
  }
  for (const node of graph.node ?? []) {
    counter.nodes++;
    // ai.onnx.ml operators (linear models, tree ensembles, scalers, SVMs) keep their learned
    // values in float-list attributes, not initializers: thresholds, leaf weights, coefficients.
    // Integer lists there are structure (node ids, feature ids), not parameters.
    if (node.domain === 'ai.onnx.ml') for (const attr of node.attribute ?? []) counter.mlFloats += attr.floats?.length ?? 0;
    for (const attr of node.attribute ?? []) {
      if (attr.t) tensors.push({ tensor: attr.t, owner: `node '${node.name ?? node.opType ?? ''}' attribute '${attr.name ?? ''}'` });
      for (const t of attr.tensors ?? []) tensors.push({ tensor: t, owner: `node '${node.name ?? ''}' attribute '${attr.name ?? ''}'` });
      if (attr.g) walk(attr.g, tensors, counter);
      for (const g of attr.graphs ?? []) walk(g, tensors, counter);
    }
  }
}

function isExternal(t: onnxProto.onnx.ITensorProto): boolean {
  return t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData?.length ?? 0) > 0;
}

function valueInfo(v: onnxProto.onnx.IValueInfoProto): TensorSignature {
  const tt = v.type?.tensorType;
  const name = v.name ?? '';
  if (!tt) return { name, elemType: v.type?.sequenceType ? 'sequence' : v.type?.mapType ? 'map' : 'unknown' };
  const dims = tt.shape?.dim;
  const shape =
    tt.shape === null || tt.shape === undefined
      ? undefined
      : (dims ?? []).map((d): number | string => {
          if (d.dimParam) return d.dimParam;
          const which = (d as { value?: string }).value;
          if (which === 'dimValue' || toNumber(d.dimValue) > 0) return toNumber(d.dimValue);
          return '?';
        });
  return shape === undefined ? { name, elemType: elementTypeName(tt.elemType) } : { name, elemType: elementTypeName(tt.elemType), shape };
}

/** The signature of a decoded model: inputs (initializers excluded), outputs, opsets, parameters. */
export function signatureOfModel(model: onnxProto.onnx.IModelProto): ModelSignature {
  const graph = model.graph ?? {};
  const tensors: TensorRef[] = [];
  const counter = { nodes: 0, mlFloats: 0 };
  walk(graph, tensors, counter);
  const initNames = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  let parameterCount = 0;
  let parameterBytes = 0;
  let externalDataTensors = 0;
  for (const { tensor } of tensors) {
    const elems = (tensor.dims ?? []).reduce<number>((a, d) => a * toNumber(d), 1);
    parameterCount += elems;
    const raw = tensor.rawData?.length ?? 0;
    parameterBytes += raw > 0 ? raw : elems * (ELEMENT_BYTES[tensor.dataType ?? 0] ?? 0);
    if (isExternal(tensor)) externalDataTensors++;
  }
  parameterCount += counter.mlFloats;
  parameterBytes += counter.mlFloats * 4;
  const opsets: Record<string, number> = {};
  for (const o of model.opsetImport ?? []) opsets[o.domain ?? ''] = toNumber(o.version);
  return {
    inputs: (graph.input ?? []).filter((v) => !initNames.has(v.name ?? '')).map(valueInfo),
    outputs: (graph.output ?? []).map(valueInfo),
    opsets,
    irVersion: toNumber(model.irVersion),
    nodeCount: counter.nodes,
    parameterCount,
    parameterBytes,
    externalDataTensors,
  };
}

/** Decode ONNX bytes; throws StageError InvalidModel when they are not a usable model. */
export function decodeModel(bytes: Uint8Array, label = 'model'): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new StageError(
      REASONS.InvalidModel,
      `The ${label} file is not a valid ONNX protobuf (${(err as Error).message}); re-export the model and publish it again.`,
      true, 'architecture',
    );
  }
  const g = model.graph;
  if (!g || (g.node?.length ?? 0) === 0 || (g.output?.length ?? 0) === 0 || toNumber(model.irVersion) <= 0) {
    throw new StageError(
      REASONS.InvalidModel,
      `The ${label} file parses but holds no usable ONNX graph (no ir_version, nodes or outputs): it is truncated or not an ONNX model; re-export it.`,
      true, 'architecture',
    );
  }
  return model;
}

async function checkExternalLocation(location: string, owner: string, dir: string, label: string): Promise<string> {
  const unsafe = (why: string): StageError =>
    new StageError(
      REASONS.UnsafeExternalData,
      `The ${label}'s ${owner} points at external data '${location}', which ${why}; keep external-data files as plain files next to the model.`,
      true, 'architecture',
    );
  if (location === '' || location.includes('\0')) throw unsafe('is empty or malformed');
  if (path.isAbsolute(location) || /^[a-zA-Z]:/.test(location) || location.startsWith('\\')) throw unsafe('is an absolute path');
  if (location.split(/[\\/]/).some((seg) => seg === '..')) throw unsafe("leaves the model's folder via '..'");
  const realDir = await realpath(dir);
  const full = path.resolve(realDir, location);
  const rel = path.relative(realDir, full);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw unsafe("resolves outside the model's folder");
  let st;
  try {
    st = await lstat(full);
  } catch {
    throw new StageError(
      REASONS.InvalidModel,
      `The ${label}'s ${owner} needs external data '${location}', which is missing next to the model; publish the data file with the model.`,
      true, 'architecture',
    );
  }
  if (st.isSymbolicLink()) throw unsafe('is a symbolic link');
  if (!st.isFile()) throw unsafe('is not a regular file');
  // A symlinked folder on the way would make the real path differ.
  if ((await realpath(full)) !== full) throw unsafe('passes through a symbolic link');
  return rel;
}

/**
 * Read and check an ONNX file before any onnxruntime session sees it: size and node limits,
 * a parse, external-data rules; then the signature.
 */
export async function inspectModelFile(file: string, options: InspectOptions = {}): Promise<InspectedModel> {
  const label = options.label ?? 'model';
  const maxBytes = options.maxBytes ?? 2 * 1024 ** 3;
  const maxNodes = options.maxNodes ?? 100_000;
  const st = await stat(file);
  if (st.size > maxBytes) {
    throw new StageError(
      REASONS.ModelTooLarge,
      `The ${label} is ${st.size} bytes, over the limit of ${maxBytes} bytes; shrink the model or raise the operator's model size limit.`,
      true, 'architecture',
    );
  }
  const model = decodeModel(await readFile(file), label);
  const signature = signatureOfModel(model);
  if (signature.nodeCount > maxNodes) {
    throw new StageError(
      REASONS.ModelTooLarge,
      `The ${label} has ${signature.nodeCount} nodes, over the limit of ${maxNodes}; simplify the graph or raise the operator's node limit.`,
      true, 'architecture',
    );
  }
  const externalFiles: string[] = [];
  if (signature.externalDataTensors > 0) {
    const tensors: TensorRef[] = [];
    walk(model.graph ?? {}, tensors, { nodes: 0, mlFloats: 0 });
    const external = tensors.filter((t) => isExternal(t.tensor));
    if (options.allowExternalData !== true) {
      throw new StageError(
        REASONS.UnsafeExternalData,
        `The ${label} stores ${external.length} tensor(s) as external data (first: ${external[0]?.owner ?? '?'}), which artifact.allowExternalData does not allow; embed the weights or set allowExternalData.`,
        true, 'architecture',
      );
    }
    const dir = options.artifactDir ?? path.dirname(file);
    for (const { tensor, owner } of external) {
      const loc = (tensor.externalData ?? []).find((e) => e.key === 'location')?.value;
      if (loc === undefined || loc === null) {
        throw new StageError(REASONS.UnsafeExternalData, `The ${label}'s ${owner} is external data without a location; re-export the model.`, true, 'architecture');
      }
      const rel = await checkExternalLocation(loc, owner, dir, label);
      if (!externalFiles.includes(rel)) externalFiles.push(rel);
    }
  }
  return { signature, sizeBytes: st.size, externalFiles };
}
