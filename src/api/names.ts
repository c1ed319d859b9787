// The API's names: group, version, kinds and plurals, and every annotation, label, finalizer,
// field manager, env var and volume name the operator writes. Pure: constants only.

export const GROUP = 'modelgate.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ModelCheckpoint';
export const PLURAL = 'modelcheckpoints';
/** Analysis templates: metrics (queries, bounds, limits) shared by checkpoints, with arguments. */
export const TEMPLATE_KIND = 'ModelAnalysisTemplate';
export const TEMPLATE_PLURAL = 'modelanalysistemplates';
export const CLUSTER_TEMPLATE_KIND = 'ClusterModelAnalysisTemplate';
export const CLUSTER_TEMPLATE_PLURAL = 'clustermodelanalysistemplates';

/** Annotations and labels the operator writes; every key lives here. */
export const ANNOTATIONS = {
  /** On the Deployment: `<namespace>/<name>` of the checkpoint holding the claim, with its uid. */
  claim: `${GROUP}/claimed-by`,
  /** On the Deployment and its pod template: which checkpoint, version and digest it runs. */
  checkpoint: `${GROUP}/checkpoint`,
  checkpointUid: `${GROUP}/checkpoint-uid`,
  version: `${GROUP}/version`,
  digest: `${GROUP}/digest`,
  /** On a checkpoint: ask for a rollback now. Value: "true" or the name of an older checkpoint. */
  rollbackRequest: `${GROUP}/rollback`,
  /**
   * On a checkpoint held by `rollout.autoDeploy: false`: approve this generation for deploy.
   * Value: the generation approved, so a later spec change needs a new approval.
   */
  promote: `${GROUP}/promote`,
  /** On the Deployment: uid of the checkpoint the last rollback took out ("" after a deploy). */
  rolledBackFrom: `${GROUP}/rolled-back-from`,
} as const;

export const FINALIZER = `${GROUP}/cleanup`;
export const FIELD_MANAGER = 'modelgate-operator';

/** Env vars written into the target container, next to the model env var (default MODEL_URI). */
export const DIGEST_ENV = 'MODEL_DIGEST';
export const VERSION_ENV = 'MODEL_VERSION';
export const DEFAULT_MODEL_ENV = 'MODEL_URI';

/**
 * How the serving container reaches a model's store: written beside MODEL_URI when the
 * checkpoint's artifact has `secretRef`, `s3` or `oci` (and removed when it has none), so the
 * pods fetch the same URI with the same code and credentials as the validation did.
 */
export const STORE_ENV = {
  s3Region: 'MODEL_S3_REGION',
  s3Endpoint: 'MODEL_S3_ENDPOINT',
  s3ForcePathStyle: 'MODEL_S3_FORCE_PATH_STYLE',
  ociPlainHttp: 'MODEL_OCI_PLAIN_HTTP',
  /** The Secret's name, for messages; its keys are files in MODEL_CREDENTIALS_DIR. */
  credentialsSecret: 'MODEL_CREDENTIALS_SECRET',
  credentialsDir: 'MODEL_CREDENTIALS_DIR',
} as const;
/** The Secret volume the operator adds to the pod template for `spec.artifact.secretRef`. */
export const CREDENTIALS_VOLUME = 'modelgate-model-credentials';
export const CREDENTIALS_MOUNT = '/var/run/modelgate/model-credentials';
