// The layer rule (`modelgate/layers`): a pure module does no I/O, reads no clock and no
// environment, and imports only other pure modules and a few vetted names. The reconciler, the
// fetcher, the clients do the I/O and hand the pure modules data; the pure modules decide, and
// every decision is unit-tested without a server.
//
// In a pure module (PURE below) it reports:
//   (a) a relative import, re-export or import() of a module of src/ that is not pure, and an
//       import() of a name computed at run time (it cannot be checked);
//   (b) an import of a package or node builtin that is not vetted as pure (PURE_PACKAGES), or of a
//       name of a vetted one that is not (node:crypto's randomBytes, node:path's resolve);
//   (c) the globals that are I/O, clock or randomness: fetch, WebSocket, process, console, the
//       timers, performance, crypto, Date.now(), new Date() and Date() without an argument,
//       Math.random(). The time must be passed in (a `now` parameter), as must anything random.
//
// Type-only imports (`import type`, `import { type A, type B }`, `export type … from`,
// `import('…').T` in a type) are allowed from anything: TypeScript erases them, so at run time
// the pure module does not load the other one, and a pure function may well take an I/O
// module's interface as the type of a parameter it is handed. Mixing one value name into such an
// import makes it a value import, and it is checked.
//
// The other layer rule, that only src/kube/ imports @kubernetes/client-node and only src/onnx/
// imports onnxruntime-node, is eslint.config.js's no-restricted-imports.
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the folder above this file. PURE's paths are relative to it. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * THE list of pure modules (the only one: eslint.config.js, the tests and docs/architecture.md
 * refer to it). An entry ending in '/' is a folder: every module under it is pure. Other
 * entries are single files in folders that also hold I/O modules.
 *
 * Not here: src/server/config.ts (it hands settings.ts the process's tmpdir and working
 * directory) and src/operator/config.ts (argv through node:util's parseArgs, the hostname and pid
 * as the default identity); what they parse is in flags.ts and settings.ts, which are.
 * Nor, though small and I/O-free otherwise, src/kube/rate-limit.ts (its clock defaults to
 * performance.now, it waits with setTimeout), src/controller/queue.ts and src/controller/jobs.ts
 * (Date.now(), setTimeout).
 */
export const PURE = [
  'src/api/', // the API types, conditions, reasons, the store env mapping
  'src/math/', // statistics, metrics, bootstrap, severity, thresholds, the evidence rule
  'src/controller/phases.ts', // the phase machine
  'src/controller/plan-deploy.ts', // the plans of the steps that touch the Deployment or judge it live
  'src/controller/plan.ts', // a step turned into a plan: status, Events, audit, jobs, requeue
  'src/controller/rollout.ts', // whether a rollout's pods came up
  'src/controller/status.ts', // status arithmetic and the kstatus conditions
  'src/controller/view.ts', // what the phase machine decides on, built from what was read
  'src/fetch/oci-ref.ts', // parsing of oci:// references and registry answers
  'src/fetch/policy.ts', // the address policy
  'src/fetch/secret.ts', // what a Secret's data gives the fetcher
  'src/fetch/types.ts', // the fetcher's options and the Scheme interface (types, constants)
  'src/kube/facts.ts', // a Deployment as read: its facts, the claim, the model it runs
  'src/monitor/analysis.ts', // the analysis judge: re-exports promql, judge, decide
  'src/monitor/baseline.ts', // a metric's baseline queries, and the baseline an answer gives
  'src/monitor/decide.ts', // measurements counted, and the analysis's decision from the counts
  'src/monitor/judge.ts', // one Prometheus answer judged into a measurement
  'src/monitor/promql.ts', // PromQL templates: placeholders filled and escaped
  'src/monitor/templates.ts', // analysis templates resolved into metrics
  'src/notify/payload.ts', // which phases notify, and the payloads
  'src/operator/flags.ts', // the operator's flag table and the reader that checks flag values
  'src/server/limits.ts', // what one request may cost (no imports)
  'src/server/settings.ts', // the inference server's configuration parsed from an environment
  'src/server/v2.ts', // the Open Inference Protocol bodies: parsed into plain typed arrays, answers built
  'src/validation/architecture.ts', // gate 1: signatures compared
  'src/validation/architecture-gate.ts', // gate 1's verdict, message and summary from the comparison
  'src/validation/benchmark-gate.ts', // gate 3's verdict from the benchmark's numbers
  'src/validation/cache-budget.ts', // which cached downloads to evict
  'src/validation/contract.ts', // the controller/validation contract: types and StageError
  'src/validation/gate-outcome.ts', // a gate's outcome before timing, number formatting, the report
  'src/validation/holdout/', // holdout datasets parsed from the bytes handed in (JSON Lines, .npy, .npz; zlib passed in)
  'src/validation/holdout-gate.ts', // gate 2's metrics, success rate, latency and verdict
  'src/validation/job-spec.ts', // the validation Job's manifest and result line
  'src/validation/output-choice.ts', // which output the holdout gate scores
  'src/validation/regression-gate.ts', // gate 4's evidence gathered, its verdict, message and summary
  'src/validation/regression-judge.ts', // the regression gate's verdict
  'src/validation/worker-protocol.ts', // the pool/worker IPC messages and the typed-array encoding
  'src/validation/worker/job-error.ts', // a worker job's error (reason, message, terminal) and its first line
];

/**
 * Packages and node builtins a pure module may import, each with the names it may import
 * (`true`: every name). Everything else, and every default or namespace import of a listed
 * one, is reported: a namespace import would hide which functions are used.
 * - node:crypto: hashing and comparing bytes the caller already has is a function of those
 *   bytes. randomBytes, randomUUID, … are not (randomness is passed in, as the clock is).
 * - node:path, node:url: string functions. Not resolve, relative, pathToFileURL, which read the
 *   process's working directory, and not posix/win32, which carry them.
 */
export const PURE_PACKAGES = {
  'node:crypto': ['createHash', 'createHmac', 'hash', 'timingSafeEqual'],
  'node:path': ['basename', 'delimiter', 'dirname', 'extname', 'format', 'isAbsolute', 'join', 'normalize', 'parse', 'sep'],
  'node:url': ['fileURLToPath', 'URL', 'URLSearchParams'],
};

/** What to do instead, by what was imported. The first match wins. */
const PACKAGE_HINTS = [
  [/^@kubernetes\/client-node$/, 'move the I/O behind src/kube/ and pass what it read in'],
  [/^onnxruntime-node$/, 'move the I/O behind src/onnx/ and pass what it computed in'],
  [/^node:fs(\/|$)/, 'read or write the file in the caller and pass the data in'],
  [/^(undici|node:(http|https|http2|net|tls|dgram|dns)(\/|$))/, 'make the request in an I/O module (src/kube/, src/fetch/, src/monitor/prometheus.ts, src/notify/notifier.ts) and pass the answer in'],
  [/^node:timers(\/|$)/, 'pass the clock in and let the caller wait'],
  [/^node:(os|process|child_process|worker_threads|cluster|v8|vm|inspector|perf_hooks)(\/|$)/, 'read the environment in the caller and pass the values in'],
  [/^prom-client$/, 'return what happened and let the caller count it (src/observability/metrics.ts)'],
  [/^winston$/, 'return what happened and let the caller log it (src/observability/logger.ts)'],
];
const PACKAGE_HINT = 'do the I/O in the caller and pass the result in (or, if the package is pure, add it to PURE_PACKAGES in eslint-rules/layers.js)';

const CLOCK = 'pass the clock in (a `now` parameter the caller fills)';
const GLOBALS = {
  fetch: 'make the request in an I/O module (src/fetch/, src/monitor/prometheus.ts) and pass the answer in',
  WebSocket: 'make the connection in an I/O module and pass what it received in',
  process: 'read argv and the environment in the entry point (src/operator/config.ts, src/server/config.ts) and pass the values in',
  console: 'return what happened and let the caller log it (src/observability/logger.ts)',
  setTimeout: 'pass the clock in and let the caller wait',
  setInterval: 'pass the clock in and let the caller wait',
  setImmediate: 'let the caller schedule the work',
  performance: CLOCK,
  crypto: "pass random values in; for a hash import createHash from 'node:crypto'",
};

/** 'src/math/x.ts' for an absolute path under ROOT; undefined outside it. */
export function repoPath(file) {
  const rel = path.relative(ROOT, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return rel.split(path.sep).join('/');
}

/** Whether a module (a path relative to ROOT, as repoPath gives) is pure. */
export function isPure(rel) {
  return rel !== undefined && PURE.some((p) => (p.endsWith('/') ? rel.startsWith(p) : rel === p));
}

/** `../kube/client.js` from src/math/x.ts → 'src/kube/client.ts' (the TypeScript source NodeNext maps it to). */
function resolveRelative(fromRel, source) {
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), source));
  return target.replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts').replace(/\.cjs$/, '.cts');
}

const normalBuiltin = (source) => (isBuiltin(source) && !source.startsWith('node:') ? `node:${source}` : source);

/** The specifiers of an import or re-export that bring in a value (not only a type). */
function valueSpecifiers(node) {
  if (node.type === 'ImportDeclaration') {
    if (node.importKind === 'type') return [];
    return node.specifiers.filter((s) => s.type !== 'ImportSpecifier' || s.importKind !== 'type');
  }
  if (node.type === 'ExportNamedDeclaration') {
    if (node.exportKind === 'type') return [];
    return node.specifiers.filter((s) => s.exportKind !== 'type');
  }
  return [];
}

/** Whether the statement brings nothing but types (erased by TypeScript). */
function typeOnly(node) {
  if (node.type === 'ImportExpression') return false;
  if (node.type === 'ExportAllDeclaration') return node.exportKind === 'type';
  if (node.type === 'ImportDeclaration' && node.importKind !== 'type' && node.specifiers.length === 0) return false; // import './x.js': runs it
  return valueSpecifiers(node).length === 0;
}

const importedName = (s) => {
  const n = s.type === 'ImportSpecifier' ? s.imported : s.local; // ExportSpecifier: `export { a as b } from` re-exports its `local` a
  return n.type === 'Identifier' ? n.name : n.value;
};

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'Pure modules (eslint-rules/layers.js PURE) import no I/O module, no I/O package, and use no I/O, clock or randomness global.' },
    schema: [],
    messages: {
      impureModule: "Pure module {{file}} imports '{{source}}' ({{target}}), which is not pure: take what it computes as a parameter and let the caller (an I/O module) call it, import only its types (`import type`), or, if {{target}} really does no I/O, add it to PURE in eslint-rules/layers.js.",
      package: "Pure module {{file}} imports '{{source}}', which does I/O or is not vetted as pure: {{hint}}.",
      packageName: "Pure module {{file}} imports {{name}} from '{{source}}': only {{allowed}} of it may be used in a pure module ({{hint}}).",
      packageWhole: "Pure module {{file}} imports all of '{{source}}': import the names it uses ({{allowed}}), so the lint can see it uses no I/O of it.",
      global: 'Pure module {{file}} uses {{name}}: {{hint}}.',
      computed: 'Pure module {{file}} imports a module whose name is computed at run time: import pure modules by a literal path, so the lint can check them.',
    },
  },
  create(context) {
    const file = repoPath(context.filename);
    if (!isPure(file)) return {};

    function checkSource(node, sourceNode) {
      if (!sourceNode) return; // export { a } without from
      if (sourceNode.type !== 'Literal' || typeof sourceNode.value !== 'string') {
        context.report({ node: sourceNode, messageId: 'computed', data: { file } });
        return;
      }
      if (typeOnly(node)) return;
      const source = sourceNode.value;
      if (source.startsWith('.')) {
        const target = resolveRelative(file, source);
        if (!isPure(target)) context.report({ node: sourceNode, messageId: 'impureModule', data: { file, source, target } });
        return;
      }
      const name = normalBuiltin(source);
      const allowed = PURE_PACKAGES[name];
      if (allowed === true) return;
      if (allowed === undefined) {
        const hint = PACKAGE_HINTS.find(([re]) => re.test(name))?.[1] ?? PACKAGE_HINT;
        context.report({ node: sourceNode, messageId: 'package', data: { file, source, hint } });
        return;
      }
      const list = allowed.join(', ');
      if (node.type === 'ImportExpression' || node.type === 'ExportAllDeclaration') {
        context.report({ node: sourceNode, messageId: 'packageWhole', data: { file, source, allowed: list } });
        return;
      }
      for (const s of valueSpecifiers(node)) {
        if (s.type === 'ImportDefaultSpecifier' || s.type === 'ImportNamespaceSpecifier') {
          context.report({ node: s, messageId: 'packageWhole', data: { file, source, allowed: list } });
        } else if (!allowed.includes(importedName(s))) {
          const hint = name === 'node:crypto' ? 'pass random values in, as the clock is' : 'it reads the working directory: resolve the path in the caller';
          context.report({ node: s, messageId: 'packageName', data: { file, source, name: importedName(s), allowed: list, hint } });
        }
      }
      if (node.type === 'ImportDeclaration' && node.specifiers.length === 0) {
        context.report({ node: sourceNode, messageId: 'packageWhole', data: { file, source, allowed: list } });
      }
    }

    /** Whether the identifier sits inside a type (`typeof setTimeout` in an annotation). */
    function inType(id) {
      for (let n = id.parent; n; n = n.parent) {
        if (n.type === 'TSTypeQuery' || n.type === 'TSTypeReference' || n.type === 'TSTypeAnnotation') return true;
        if (n.type.endsWith('Statement') || n.type.endsWith('Declaration')) return false;
      }
      return false;
    }

    function checkGlobal(id) {
      if (inType(id)) return;
      const parent = id.parent;
      const member = parent?.type === 'MemberExpression' && parent.object === id && !parent.computed ? parent.property.name : undefined;
      const report = (name, hint) => context.report({ node: parent && member ? parent : id, messageId: 'global', data: { file, name, hint } });
      const name = id.name;
      if (name === 'Date') {
        if (member === 'now') report('Date.now()', CLOCK);
        else if (parent?.type === 'NewExpression' && parent.callee === id && parent.arguments.length === 0) context.report({ node: parent, messageId: 'global', data: { file, name: 'new Date() (the current time)', hint: CLOCK } });
        else if (parent?.type === 'CallExpression' && parent.callee === id) context.report({ node: parent, messageId: 'global', data: { file, name: 'Date() (the current time)', hint: CLOCK } });
      } else if (name === 'Math') {
        if (member === 'random') report('Math.random()', 'pass the random source in (as src/math/bootstrap.ts takes its draws)');
      } else if (name === 'globalThis') {
        if (member !== undefined && Object.hasOwn(GLOBALS, member)) report(`globalThis.${member}`, GLOBALS[member]);
      } else if (Object.hasOwn(GLOBALS, name)) {
        report(name, GLOBALS[name]);
      }
    }

    return {
      ImportDeclaration: (node) => checkSource(node, node.source),
      ExportNamedDeclaration: (node) => checkSource(node, node.source),
      ExportAllDeclaration: (node) => checkSource(node, node.source),
      ImportExpression: (node) => checkSource(node, node.source),
      // As core's no-restricted-globals: the references that no declaration of the module binds.
      'Program:exit'(node) {
        const scope = context.sourceCode.getScope(node);
        for (const variable of scope.variables) {
          if (variable.defs.length === 0) for (const ref of variable.references) if (ref.isValueReference !== false) checkGlobal(ref.identifier);
        }
        for (const ref of scope.through) if (ref.isValueReference !== false) checkGlobal(ref.identifier);
      },
    };
  },
};

export default { meta: { name: 'modelgate' }, rules: { layers: rule } };
