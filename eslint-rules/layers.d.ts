// Types of layers.js for the TypeScript tests that import it (test/unit/lint-layers.test.ts).
import type { ESLint } from 'eslint';

export const ROOT: string;
export const PURE: readonly string[];
export const PURE_PACKAGES: Readonly<Record<string, readonly string[] | true>>;
export function repoPath(file: string): string | undefined;
export function isPure(rel: string | undefined): boolean;
declare const plugin: ESLint.Plugin;
export default plugin;
