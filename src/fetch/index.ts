// Fetching artifacts: one module per scheme (file, https, s3, oci) behind the Scheme interface
// (types.ts), the pure address policy (policy.ts), the guarded connection they all use
// (connection.ts), the cache (cache.ts) and the fetcher that ties them (fetcher.ts).
export { ArtifactFetcher } from './fetcher.js';
export { DestinationGuard } from './destination.js';
export { sleep } from './connection.js';
export { forbiddenAddressKind, redact, trustedHostProblem } from './policy.js';
export type { EvictionResult, FetcherOptions, FetcherSettingNames, FetchOptions, S3Location, OciLocation, StoreCredentials, StoreRef } from './types.js';
