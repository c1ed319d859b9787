// The contract between the controller and the validation pipeline. Pure types.
// The controller calls fetch() in phase Fetching and validate() in phase Validating; both run
// outside the reconcile (a background job keyed by uid and generation) and honour the signal.
import type { ArtifactSpec, Severity, StageResult, TrainingSpec, ValidationSpec } from '../api/types.js';

export interface ArtifactRef {
  uri: string;
  digest: string;
  sizeBytes?: number;
  allowExternalData?: boolean;
  /** How an s3:// or oci:// store is reached (spec.artifact.s3 / .oci). */
  s3?: { region?: string; endpoint?: string; forcePathStyle?: boolean };
  oci?: { plainHttp?: boolean };
  /** The Secret (in the checkpoint's namespace) the controller reads credentials from. */
  secretRef?: { name: string };
}

/**
 * Credentials read from the Secrets the spec names, in memory only: never in a report, status,
 * Event or log (src/fetch/types.ts StoreCredentials).
 */
export interface RequestCredentials {
  candidate?: import('../fetch/types.js').StoreCredentials;
  baseline?: import('../fetch/types.js').StoreCredentials;
  dataset?: import('../fetch/types.js').StoreCredentials;
}

/** The checkpoint now serving the target, whose model the gates compare against. */
export interface BaselineRef {
  checkpoint: string;
  version: string;
  artifact: ArtifactRef;
  training?: TrainingSpec;
}

export interface ValidationRequest {
  /** `<namespace>/<name>` for logs and reports. */
  key: string;
  generation: number;
  candidate: ArtifactSpec;
  training?: TrainingSpec;
  spec: ValidationSpec;
  baseline?: BaselineRef;
  /** From the Secrets the spec names; the Job runner refuses a request that has any. */
  credentials?: RequestCredentials;
}

/** A fetched artifact in the content-addressed cache. */
export interface FetchedArtifact {
  digest: string;
  path: string;
  sizeBytes: number;
}

/** Why a step failed. `terminal`: retrying the same spec cannot help (DigestMismatch, InvalidModel, ...). */
export class StageError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly terminal: boolean,
    readonly stage: StageResult['stage'] = 'fetch',
  ) {
    super(message);
    this.name = 'StageError';
  }
}

export interface ValidationReport {
  /** True when every gate passed (Skipped counts as passed). */
  passed: boolean;
  /** The first failing gate's reason, or "Validated". */
  reason: string;
  /** One line with the numbers behind the verdict. */
  message: string;
  /** Band of the regression's point estimate; absent when no regression was judged (e.g. the architecture gate blocked). */
  severity?: Severity;
  /** Small per-gate summaries for status. */
  stages: StageResult[];
  /** The full report (every metric, every batch size) for the ConfigMap. */
  full: Record<string, unknown>;
}

export interface CheckpointValidator {
  fetch(candidate: ArtifactRef & { credentials?: RequestCredentials['candidate'] }, signal: AbortSignal): Promise<FetchedArtifact>;
  validate(request: ValidationRequest, candidate: FetchedArtifact, signal: AbortSignal): Promise<ValidationReport>;
  /** Remove any temp files this checkpoint left behind (finalizer). */
  cleanup(key: string): Promise<void>;
}
