// The only module that imports onnxruntime-node. Sessions, tensors and metadata for the
// validation workers and the reference inference server.
import * as ort from 'onnxruntime-node';

export type Tensor = ort.Tensor;
export type Session = ort.InferenceSession;
export type TensorType = ort.Tensor.Type;

export interface TensorInfo {
  name: string;
  /** ONNX element type name as onnxruntime reports it, e.g. "float32", "int64". */
  type: string;
  /** Fixed dimensions as numbers, symbolic ones as strings. */
  shape: Array<number | string>;
}

export interface SessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  /** onnxruntime's native log threshold: 0 verbose … 3 error, 4 fatal (default 2, warnings). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

export async function openSession(pathOrBytes: string | Uint8Array, options: SessionOptions = {}): Promise<Session> {
  const opts: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    interOpNumThreads: options.interOpNumThreads ?? 1,
    graphOptimizationLevel: 'all',
    ...(options.logSeverityLevel !== undefined ? { logSeverityLevel: options.logSeverityLevel } : {}),
  };
  return typeof pathOrBytes === 'string'
    ? ort.InferenceSession.create(pathOrBytes, opts)
    : ort.InferenceSession.create(pathOrBytes, opts);
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return meta.map((m) =>
    m.isTensor
      ? { name: m.name, type: String(m.type), shape: [...m.shape].map((d) => (typeof d === 'number' ? d : String(d))) }
      : { name: m.name, type: 'non-tensor', shape: [] },
  );
}

export function signatureOf(session: Session): { inputs: TensorInfo[]; outputs: TensorInfo[] } {
  return { inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) };
}

export function tensor(type: TensorType, data: ort.Tensor.DataType, dims: readonly number[]): Tensor {
  return new ort.Tensor(type, data, dims);
}

export async function run(session: Session, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  return session.run(feeds);
}

/** Free a session's native memory. */
export async function closeSession(session: Session): Promise<void> {
  await session.release();
}

/** The tensor element types onnxruntime-node accepts as inputs, by ONNX type name. */
export const TENSOR_TYPES: readonly string[] = ['float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'float16', 'string'];
