// Gate 1: compare the candidate's signature with the baseline's. Pure: no I/O imports.
import type { ArchitecturePolicy } from '../api/types.js';
import { REASONS } from '../api/reasons.js';

/** One input or output of a model, read from the ONNX protobuf. */
export interface TensorSignature {
  name: string;
  /** Element type name: 'float32', 'int64', ... ('unknown' when the graph does not say). */
  elemType: string;
  /** Fixed dimensions as numbers, symbolic ones (dim_param) as strings, unknown ones as '?'. Undefined: rank unknown. */
  shape?: Array<number | string>;
}

export interface ModelSignature {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  /** Opset imports: domain ('' = ai.onnx) -> version. */
  opsets: Record<string, number>;
  irVersion: number;
  nodeCount: number;
  /** Elements in initializers and Constant tensors. */
  parameterCount: number;
  /** Bytes of those tensors (as stored, or element count x element size). */
  parameterBytes: number;
  /** Tensors stored as external data. */
  externalDataTensors: number;
}

export interface ParameterChange {
  baseline: number;
  candidate: number;
  /** |candidate - baseline| / baseline (Infinity when the baseline has none and the candidate has some). */
  ratio: number;
  /** ratio > maxParameterChangeRatio */
  exceeded: boolean;
}

export interface SignatureComparison {
  compatible: boolean;
  /** Compatible, NoBaseline, GateDisabled, IncompatibleSignature or ParameterChangeTooLarge. */
  reason: string;
  /** Every difference, one sentence each, naming the input or output. */
  differences: string[];
  parameterChange?: ParameterChange;
}

export interface ParameterPolicy {
  maxParameterChangeRatio?: number; // default 0.5
  blockOnParameterChange?: boolean; // default false
}

function shapeText(shape: Array<number | string> | undefined): string {
  return shape === undefined ? 'unknown' : `[${shape.map((d) => (typeof d === 'number' ? String(d) : `'${d}'`)).join(', ')}]`;
}

function compareTensor(kind: 'input' | 'output', base: TensorSignature, cand: TensorSignature, strict: boolean, out: string[]): void {
  const label = `${kind} '${base.name}'`;
  if (base.elemType !== cand.elemType) out.push(`${label}: element type ${base.elemType} -> ${cand.elemType}`);
  if (base.shape === undefined || cand.shape === undefined) return;
  if (base.shape.length !== cand.shape.length) {
    out.push(`${label}: rank ${base.shape.length} -> ${cand.shape.length} (shape ${shapeText(base.shape)} -> ${shapeText(cand.shape)})`);
    return;
  }
  base.shape.forEach((b, i) => {
    const c = cand.shape![i]!;
    if (typeof b === 'number' && typeof c === 'number') {
      if (b !== c) out.push(`${label}: dimension ${i} ${b} -> ${c}`);
    } else if (typeof b === 'string' && typeof c === 'number') {
      // The baseline accepted any size here; the candidate demands one.
      if (kind === 'input' || strict) out.push(`${label}: dimension ${i} symbolic '${b}' -> fixed ${c}`);
    } else if (typeof b === 'number' && typeof c === 'string') {
      // Inputs may generalise; a consumer of an output may depend on the fixed size.
      if (kind === 'output' && strict) out.push(`${label}: dimension ${i} fixed ${b} -> symbolic '${c}'`);
    }
  });
}

function compareList(kind: 'input' | 'output', base: TensorSignature[], cand: TensorSignature[], policy: ArchitecturePolicy, out: string[]): void {
  const candByName = new Map(cand.map((t) => [t.name, t]));
  const baseNames = new Set(base.map((t) => t.name));
  const extra = cand.filter((t) => !baseNames.has(t.name));
  for (const b of base) {
    const c = candByName.get(b.name);
    if (c === undefined) {
      const hint = extra.length > 0 ? ` (the candidate has ${extra.map((t) => `'${t.name}'`).join(', ')} instead: renamed?)` : '';
      out.push(`${kind} '${b.name}': missing in the candidate${hint}`);
      continue;
    }
    compareTensor(kind, b, c, policy === 'Strict', out);
  }
  // Extra inputs are never fed by callers built for the baseline; extra outputs are harmless unless Strict.
  const refuseExtra = kind === 'input' || policy === 'Strict';
  if (refuseExtra) for (const e of extra) out.push(`${kind} '${e.name}': not in the baseline (new ${kind} ${e.elemType} ${shapeText(e.shape)})`);
}

/**
 * Compare the candidate with the baseline under a policy. Missing or renamed inputs/outputs, a
 * changed element type and a changed fixed dimension are incompatible under Strict and
 * Compatible; Compatible allows extra outputs; Skip passes; no baseline passes (NoBaseline).
 */
export function compareSignatures(
  baseline: ModelSignature | undefined,
  candidate: ModelSignature,
  policy: ArchitecturePolicy = 'Strict',
  params: ParameterPolicy = {},
): SignatureComparison {
  if (policy === 'Skip') return { compatible: true, reason: REASONS.GateDisabled, differences: [] };
  if (baseline === undefined) return { compatible: true, reason: REASONS.NoBaseline, differences: [] };
  const differences: string[] = [];
  compareList('input', baseline.inputs, candidate.inputs, policy, differences);
  compareList('output', baseline.outputs, candidate.outputs, policy, differences);

  const maxRatio = params.maxParameterChangeRatio ?? 0.5;
  const b = baseline.parameterCount;
  const c = candidate.parameterCount;
  const ratio = b === 0 ? (c === 0 ? 0 : Infinity) : Math.abs(c - b) / b;
  const parameterChange: ParameterChange = { baseline: b, candidate: c, ratio, exceeded: ratio > maxRatio };

  if (differences.length > 0) return { compatible: false, reason: REASONS.IncompatibleSignature, differences, parameterChange };
  if (parameterChange.exceeded && params.blockOnParameterChange === true) {
    const pct = Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)}%` : 'from none';
    return {
      compatible: false,
      reason: REASONS.ParameterChangeTooLarge,
      differences: [`parameter count ${b} -> ${c} changed by ${pct}, more than maxParameterChangeRatio ${maxRatio}`],
      parameterChange,
    };
  }
  return { compatible: true, reason: REASONS.Compatible, differences, parameterChange };
}
