// Which model output the holdout gate scores, chosen by what each output is. Pure: no I/O.
//
// scikit-learn classifiers exported by skl2onnx have a hard `label` output (int64) first and the
// class probabilities second; scoring the label as a probability gives a bogus log loss and AUC.
// So the choice is by element type and shape, never by position, and an ambiguous choice is
// refused with the names of the outputs and the field that picks one.
import { REASONS } from '../api/reasons.js';
import type { HoldoutTask } from '../api/types.js';

export interface OutputInfo {
  name: string;
  /** onnxruntime's element type ("float32", "int64", …) or "non-tensor" (sequences, maps). */
  type: string;
  shape: Array<number | string>;
}

export type OutputChoice = { ok: true; name: string } | { ok: false; reason: typeof REASONS.OutputNotFound | typeof REASONS.AmbiguousOutput | typeof REASONS.UnsupportedOutput; message: string };

const FLOAT = new Set(['float32', 'float64', 'float16']);

function list(outputs: readonly OutputInfo[]): string {
  const dims = (o: OutputInfo): string => (o.shape.length ? ` [${o.shape.map((d) => (d === '' ? '?' : String(d))).join(', ')}]` : '');
  return outputs.map((o) => `'${o.name}' (${o.type === 'non-tensor' ? 'not a tensor' : `${o.type}${dims(o)}`})`).join(', ');
}

const ZIPMAP_HINT =
  "it is a sequence of maps, as scikit-learn's ZipMap writes; re-export the model with skl2onnx option {'zipmap': False} " +
  "(to_onnx(model, X, options={id(model): {'zipmap': False}})) so the probabilities are a tensor";

/**
 * The output to score. `wanted` (holdout.outputName / --output-name) wins when it names a tensor
 * output. Otherwise: the only output; else the only floating-point tensor (probabilities, scores,
 * regression values) among several, where integer outputs are class labels; else refused.
 */
export function chooseOutput(outputs: readonly OutputInfo[], wanted: string | undefined, task: HoldoutTask | undefined, label: string, field: string): OutputChoice {
  const pick = `set ${field} to the one to score`;
  if (outputs.length === 0) return { ok: false, reason: REASONS.OutputNotFound, message: `The ${label} model declares no outputs.` };
  if (wanted !== undefined) {
    const o = outputs.find((x) => x.name === wanted);
    if (!o) return { ok: false, reason: REASONS.OutputNotFound, message: `The ${label} model has no output '${wanted}' (outputs: ${list(outputs)}); fix ${field}.` };
    if (o.type === 'non-tensor') return { ok: false, reason: REASONS.UnsupportedOutput, message: `The ${label} model's output '${wanted}' cannot be scored because ${ZIPMAP_HINT}.` };
    return { ok: true, name: o.name };
  }
  const tensors = outputs.filter((o) => o.type !== 'non-tensor');
  const floats = tensors.filter((o) => FLOAT.has(o.type));
  if (floats.length === 1) return { ok: true, name: floats[0]!.name };
  if (floats.length > 1) {
    return { ok: false, reason: REASONS.AmbiguousOutput, message: `The ${label} model has ${floats.length} floating-point outputs (${list(floats)}) and ${field} names none; ${pick}.` };
  }
  const maps = outputs.filter((o) => o.type === 'non-tensor');
  if (maps.length > 0 && task !== 'regression') {
    return { ok: false, reason: REASONS.UnsupportedOutput, message: `The ${label} model has no probability tensor to score: output '${maps[0]!.name}' cannot be read because ${ZIPMAP_HINT}.` };
  }
  if (tensors.length === 1) {
    const o = tensors[0]!;
    // A lone integer output of a classifier is a hard label: accuracy is right, log loss and AUC are not.
    if (task !== 'regression' && !FLOAT.has(o.type)) {
      return { ok: false, reason: REASONS.UnsupportedOutput, message: `The ${label} model's only output '${o.name}' is ${o.type} (hard class labels), not probabilities: export probabilities, or ${pick} to score the labels anyway.` };
    }
    return { ok: true, name: o.name };
  }
  return { ok: false, reason: REASONS.AmbiguousOutput, message: `The ${label} model has ${outputs.length} outputs (${list(outputs)}) and none is a floating-point tensor; ${pick}.` };
}
