// A CheckpointValidator that answers at once: fetch returns a FetchedArtifact without reading
// anything, validate returns a fixed passing report. For benchmarks of the operator itself
// (throughput, apply-to-patch, memory), where ONNX work must not be what is measured.
import type { StageResult } from '../src/api/types.js';
import type { ArtifactRef, CheckpointValidator, FetchedArtifact, ValidationReport, ValidationRequest } from '../src/validation/contract.js';

const STAGES: StageResult[] = [
  { stage: 'fetch', verdict: 'Passed', reason: 'Fetched', message: 'Fetched and verified the candidate (precomputed).', summary: { candidateBytes: 1024 }, durationMs: 0 },
  { stage: 'architecture', verdict: 'Passed', reason: 'Compatible', message: 'Signature compatible (precomputed).', summary: { policy: 'Strict', inputs: 1, outputs: 1, parameters: 2570, nodes: 3 }, durationMs: 0 },
  { stage: 'holdout', verdict: 'Skipped', reason: 'NoHoldout', message: 'No holdout dataset in spec.validation.holdout; quality was not measured.', durationMs: 0 },
  { stage: 'benchmark', verdict: 'Passed', reason: 'Passed', message: 'batch 1: p50 0.05 ms, p95 0.07 ms, 20000 samples/s (precomputed).', summary: { batchSizes: '1', p95Ms: 0.07, throughput: 20000, peakRssMiB: 80, sessionMs: 3, input: 'synthetic' }, durationMs: 0 },
  { stage: 'regression', verdict: 'Skipped', reason: 'NoBaseline', message: 'No baseline checkpoint serves the target; nothing to compare against.', durationMs: 0 },
];

export const PRECOMPUTED_REPORT: ValidationReport = {
  passed: true,
  reason: 'Validated',
  message: 'Validated: fetch, architecture, benchmark passed; holdout skipped (NoHoldout), regression skipped (NoBaseline).',
  severity: 'NONE',
  stages: STAGES,
  full: { precomputed: true, stages: STAGES },
};

export class PrecomputedValidator implements CheckpointValidator {
  fetches = 0;
  validations = 0;
  cleanups = 0;

  async fetch(candidate: ArtifactRef, _signal: AbortSignal): Promise<FetchedArtifact> {
    this.fetches++;
    return { digest: candidate.digest, path: `/nonexistent/${candidate.digest.replace(':', '/')}`, sizeBytes: candidate.sizeBytes ?? 1024 };
  }

  async validate(_request: ValidationRequest, _candidate: FetchedArtifact, _signal: AbortSignal): Promise<ValidationReport> {
    this.validations++;
    return PRECOMPUTED_REPORT;
  }

  async cleanup(_key: string): Promise<void> {
    this.cleanups++;
  }
}
