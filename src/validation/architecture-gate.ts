// Gate 1's outcome: the signature comparison (architecture.ts) turned into a verdict, a message
// and summary numbers. Pure: no I/O.
import { REASONS } from '../api/reasons.js';
import type { ArchitecturePolicy } from '../api/types.js';
import type { ModelSignature, SignatureComparison } from './architecture.js';
import { fmt, outcome, summaryNumber } from './gate-outcome.js';
import type { GateOutcome, Summary } from './gate-outcome.js';

/** The candidate's shape in numbers, and the parameter change and differences when there are any. */
function architectureSummary(cmp: SignatureComparison, candidate: ModelSignature, policy: ArchitecturePolicy): Summary {
  const summary: Summary = {
    policy,
    inputs: candidate.inputs.length,
    outputs: candidate.outputs.length,
    parameters: candidate.parameterCount,
    nodes: candidate.nodeCount,
  };
  if (cmp.parameterChange) {
    summary.baselineParameters = cmp.parameterChange.baseline;
    summary.parameterChangeRatio = summaryNumber(cmp.parameterChange.ratio);
  }
  if (!cmp.compatible) summary.differences = cmp.differences.length;
  return summary;
}

/** A parameter change over maxParameterChangeRatio that does not block is still told. */
function parameterNote(cmp: SignatureComparison): string {
  const pc = cmp.parameterChange;
  if (!pc?.exceeded) return '';
  return ` Parameter count changed ${Number.isFinite(pc.ratio) ? `${fmt(pc.ratio * 100)}%` : 'from none'} (${pc.baseline} -> ${pc.candidate}), over maxParameterChangeRatio; reported, not blocking.`;
}

/**
 * Gate 1's verdict. Incompatible fails; no baseline passes (the first checkpoint of a target
 * cannot break anything); policy Skip skips; else compatible passes.
 */
export function architectureOutcome(cmp: SignatureComparison, candidate: ModelSignature, policy: ArchitecturePolicy, baselineVersion: string | undefined): GateOutcome {
  const summary = architectureSummary(cmp, candidate, policy);
  const io = `${candidate.inputs.length} input(s), ${candidate.outputs.length} output(s)`;
  if (!cmp.compatible) {
    return outcome('Failed', cmp.reason, `The candidate's signature is incompatible with the baseline ${baselineVersion ?? ''}: ${cmp.differences.join('; ')}.`, summary);
  }
  if (cmp.reason === REASONS.NoBaseline) {
    return outcome('Passed', cmp.reason, `No checkpoint serves the target yet; nothing to compare the signature with (${io}).`, summary);
  }
  if (cmp.reason === REASONS.GateDisabled) return outcome('Skipped', cmp.reason, 'Architecture policy is Skip.', summary);
  return outcome('Passed', REASONS.Compatible, `Signature compatible with the baseline ${baselineVersion ?? ''} (${io}).${parameterNote(cmp)}`, summary);
}
