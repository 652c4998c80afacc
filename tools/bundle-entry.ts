#!/usr/bin/env node
/**
 * The bundle's entry, dist/bundle/cloudlocker.mjs (tools/bundle.ts builds it):
 * a small ES module that runs the main file (cloudlocker-main.js: the whole
 * command, src/cli/main.ts and everything it imports) through V8's code cache
 * (src/cli/code-cache.ts). The entry stays an ES module, so `node
 * cloudlocker.mjs` and Electron's `utilityProcess.fork` start it as before.
 */
// First, the Node built-ins a start needs, while Node's own code cache for them
// is still accepted (bundle-startup-builtins.ts says why this comes first).
import './bundle-startup-builtins.js';
// Then: V8 keys a code cache by its flags, so the flag the command sets
// (early-gc-tuning.ts) must be set before the main file is compiled and before
// its cache is made, or every cache would be rejected.
import '../src/cli/early-gc-tuning.js';
import { fileURLToPath } from 'node:url';
import { runMainWithCodeCache } from '../src/cli/code-cache.js';

/** Replaced at build time (esbuild `define`): the main file, relative to this one. */
declare const CLOUDLOCKER_MAIN_FILE: string;
/** Replaced at build time: the chunks the main file imports statically (shared with chunks it loads lazily). */
declare const CLOUDLOCKER_STATIC_CHUNKS: readonly string[];

// Loaded first, as static imports of the main file would be: the lazily loaded chunks import the same modules.
const modules = new Map<string, unknown>(await Promise.all(CLOUDLOCKER_STATIC_CHUNKS.map(async (specifier) => [specifier, await import(new URL(specifier, import.meta.url).href)] as const)));

runMainWithCodeCache({
  mainFile: fileURLToPath(new URL(CLOUDLOCKER_MAIN_FILE, import.meta.url)),
  entryUrl: import.meta.url,
  modules,
  argv: process.argv,
  env: process.env,
  cwd: process.cwd(),
});
