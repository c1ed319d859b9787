// Lint: typescript-eslint's recommended rules, and layers: the pure modules stay free of I/O
// (modelgate/layers, eslint-rules/layers.js, which also holds the one list of pure modules), and
// each outside system is imported by one folder only (no-restricted-imports). (In flat config the
// last block that sets a rule wins, so each block lists every restriction that applies to its files.)
import tseslint from 'typescript-eslint';
import layers from './eslint-rules/layers.js';

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
  // On every module of src/; the rule itself knows which are pure (PURE) and leaves the rest alone.
  { files: ['src/**/*.ts'], plugins: { modelgate: layers }, rules: { 'modelgate/layers': 'error' } },
);
