// Lint: typescript-eslint's recommended rules, and layers: the pure modules stay free of I/O,
// and each outside system is imported by one folder only. (In flat config the last block that
// sets a rule wins, so each block lists every restriction that applies to its files.)
import tseslint from 'typescript-eslint';

const io = ['node:fs', 'node:fs/promises', 'node:http', 'node:https', 'node:net', 'node:child_process',
  'node:worker_threads', 'node:dns', 'node:dns/promises', 'fs', 'http', 'https', 'net', 'child_process'];
const kube = { name: '@kubernetes/client-node', message: 'only src/kube/ talks to Kubernetes' };
const ort = { name: 'onnxruntime-node', message: 'only src/onnx/ talks to onnxruntime' };
const restrict = (...paths) => ({ 'no-restricted-imports': ['error', { paths }] });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'tools/**'] },
  ...tseslint.configs.recommended,
  // The mocha reporter is CommonJS because mocha loads reporters with require().
  { files: ['**/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  { files: ['src/**/*.ts'], rules: restrict(kube, ort) },
  { files: ['src/kube/**/*.ts'], rules: restrict(ort) },
  { files: ['src/onnx/**/*.ts'], rules: restrict(kube) },
  {
    files: ['src/api/**/*.ts', 'src/math/**/*.ts', 'src/monitor/analysis.ts', 'src/monitor/templates.ts', 'src/controller/phases.ts', 'src/controller/rollout.ts', 'src/notify/payload.ts', 'src/validation/cache-budget.ts', 'src/validation/job-spec.ts', 'src/validation/output-choice.ts', 'src/validation/reasons.ts', 'src/validation/regression-judge.ts', 'src/fetch/policy.ts', 'src/fetch/oci-ref.ts', 'src/fetch/secret.ts'],
    rules: restrict(
      ...io.map((name) => ({ name, message: 'pure module: no I/O imports' })),
      kube, ort,
      { name: 'prom-client', message: 'pure module: no I/O imports' },
      { name: 'winston', message: 'pure module: no I/O imports' },
    ),
  },
);
