// The fetcher moved to src/fetch/ (one module per scheme); this keeps the old import path.
export * from '../fetch/index.js';
