// The ModelCheckpoint API (modelgate.io/v1alpha1) as TypeScript types: the resources and their
// top-level spec and status here, their parts by concern in names.ts, spec.ts, status.ts and
// analysis.ts, all re-exported so that everything imports this module.
// Pure: no I/O imports. crds/modelcheckpoints.yaml is the schema the apiserver enforces;
// these types mirror it, and test/integration/crd.test.ts keeps the two honest, as does
// test/unit/manifests.test.ts, which reads ModelCheckpointSpec, ModelCheckpointStatus and
// AnalysisTemplateSpec from this file (so they stay here).
import type { API_VERSION, KIND } from './names.js';
import type { AnalysisMetricSpec, AnalysisSpec, AnalysisStatus } from './analysis.js';
import type { ArtifactSpec, RolloutSpec, Severity, TargetSpec, TrainingSpec, ValidationSpec } from './spec.js';
import type { Condition, DeploymentRecord, HistoryEntry, Phase, RetryStatus, RolloutStatus, StageResult } from './status.js';

export * from './names.js';
export * from './spec.js';
export * from './status.js';
export * from './analysis.js';

export interface ModelCheckpointSpec {
  model: string;
  version: string;
  artifact: ArtifactSpec;
  training?: TrainingSpec;
  target: TargetSpec;
  validation?: ValidationSpec;
  rollout?: RolloutSpec;
  analysis?: AnalysisSpec;
}

export interface ModelCheckpointStatus {
  phase?: Phase;
  observedGeneration?: number;
  conditions?: Condition[];
  severity?: Severity;
  stages?: StageResult[];
  /** ConfigMap (owned by the checkpoint) holding the full validation report. */
  reportConfigMap?: string;
  deployment?: DeploymentRecord;
  /** The rollout of this checkpoint's pods, from the patch until they are all available (or it failed). */
  rollout?: RolloutStatus;
  analysis?: AnalysisStatus;
  /** The generation that was rolled back: never deployed again until the spec changes. */
  rolledBackGeneration?: number;
  /** Transient failures of the current (or last) phase's background work, retried with backoff. */
  retry?: RetryStatus;
  /** The production checkpoint this one was validated against (none for the first of a target). */
  validatedAgainst?: { checkpoint?: string; digest?: string };
  history?: HistoryEntry[];
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
}

export interface ModelCheckpoint {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: ModelCheckpointSpec;
  status?: ModelCheckpointStatus;
}

/** An argument a template declares; without a value it is required from the checkpoint. */
export interface TemplateArgSpec {
  name: string;
  /** The default, used when the checkpoint gives none. */
  value?: string;
}

/** The spec of a ModelAnalysisTemplate and of a ClusterModelAnalysisTemplate. */
export interface AnalysisTemplateSpec {
  args?: TemplateArgSpec[];
  /** Metrics as in spec.analysis.metrics; query and baselineQuery may use {{args.<name>}}. */
  metrics: AnalysisMetricSpec[];
}

export interface AnalysisTemplate {
  apiVersion: typeof API_VERSION;
  kind: 'ModelAnalysisTemplate' | 'ClusterModelAnalysisTemplate';
  metadata: ObjectMeta;
  spec: AnalysisTemplateSpec;
}
