// What one request may cost the server, with the defaults the env settings override
// (src/server/settings.ts; docs/inference-server.md, "Limits"). No imports, so settings.ts stays
// free of onnxruntime.

/** What one request body may hold; each refusal names the setting that raises it. */
export interface RequestLimits {
  /** Deepest nesting of `[` and `{` in a body (MAX_JSON_DEPTH). */
  maxJsonDepth: number;
  /** Most elements in one input tensor (MAX_TENSOR_ELEMENTS). */
  maxTensorElements: number;
}

/** 64 levels: a v2 body needs 3 plus the tensor's rank. 2^20 elements: a 4 MiB FP32 tensor. */
export const DEFAULT_LIMITS: RequestLimits = { maxJsonDepth: 64, maxTensorElements: 1 << 20 };
/** MAX_BODY_BYTES. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
/** MAX_CONCURRENT_INFERENCES: inferences in progress, from the first body byte to the answer. */
export const DEFAULT_MAX_CONCURRENT_INFERENCES = 16;
