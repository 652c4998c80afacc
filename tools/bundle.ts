/**
 * `npm run bundle`: the whole command (`serve` and every client command) as
 * one ESM file that runs with plain `node` and no node_modules, for an
 * Electron app to ship and start with `utilityProcess.fork`:
 *
 *   dist/bundle/cloudlocker.mjs          the command; everything a local-only server needs
 *   dist/bundle/chunks/*.mjs             loaded on demand: the service (by `serve`), the S3 backend and the AWS SDK (only when S3 is configured)
 *
 * Bundled with esbuild: one fast native tool that understands TypeScript,
 * ESM/CommonJS mixes and code splitting at dynamic import() boundaries, which
 * is what keeps the AWS SDK out of a local-only start.
 */
import { build, type Metafile, type Plugin } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUNDLE_ENTRY_NAME = 'cloudlocker.mjs';

export interface BundleResult {
  /** The entry file to run (`node <entry> serve`). */
  readonly entry: string;
  readonly outdir: string;
  readonly metafile: Metafile;
}

/** The repository root, from this file's place in the source tree (tools/) or the build (dist/tools/). */
function repositoryRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '..', '..') : path.resolve(here, '..');
}

export interface BundleOptions {
  /** Default true. False keeps the code readable, for a CPU profile of the start (`--no-minify`). */
  readonly minify?: boolean;
}

export async function bundle(outdir = path.join(repositoryRoot(), 'dist', 'bundle'), options: BundleOptions = {}): Promise<BundleResult> {
  const minify = options.minify ?? true;
  const root = repositoryRoot();
  // Chunk names carry content hashes: start empty, so no chunk of an earlier build stays behind.
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { cloudlocker: path.join(root, 'src', 'cli', 'main.ts') },
    outdir,
    bundle: true,
    platform: 'node',
    // @peculiar/x509's ESM build: its CommonJS one, behind import(), would expose its exports only as `default`.
    // (Not mainFields 'module' for all: the AWS SDK's ESM build splits into some twenty chunks.)
    alias: { '@peculiar/x509': '@peculiar/x509/build/x509.es.js' },
    format: 'esm',
    target: 'node20',
    // Dynamic import() boundaries become chunks: the AWS SDK loads only with the S3 store.
    splitting: true,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    // ws tries these optional native add-ons and does without them.
    external: ['bufferutil', 'utf-8-validate'],
    // CommonJS dependencies (commander, ws, pino) call require() for Node's built-ins.
    banner: { js: "import { createRequire as __cloudlockerRequire } from 'node:module'; const require = __cloudlockerRequire(import.meta.url);" },
    minifySyntax: minify,
    minifyWhitespace: minify,
    legalComments: 'none',
    plugins: [staticCryptoForCli, lazyBuiltinsForDependencies],
    metafile: true,
    logLevel: 'warning',
  });
  return { entry: path.join(outdir, BUNDLE_ENTRY_NAME), outdir, metafile: result.metafile };
}

/**
 * The CLI loads the crypto layer lazily (src/cli/load-crypto.ts) so that dist's
 * commands start light; in the bundle the entry holds that layer anyway (serve
 * needs it), so the lazy import would only split shared code into extra
 * chunks. The bundle takes load-crypto-static.ts in its place.
 */
const staticCryptoForCli: Plugin = {
  name: 'static-crypto-for-cli',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /[\\/]load-crypto\.js$/ }, (args) => ({
      path: path.resolve(path.dirname(args.importer), args.path).replace(/load-crypto\.js$/, 'load-crypto-static.ts'),
    }));
  },
};

/**
 * Built-ins that dependencies load at their top level but that a server never
 * uses: ws's `zlib` (for permessage-deflate, which both ends turn off) and
 * pino's `worker_threads` (for transports, which cloudlocker does not use: its
 * log destinations are synchronous streams in this thread). Node compiles its
 * internal modules for each at load. In the bundle each such require gets a
 * stand-in that loads the real module on first use, so the behaviour is
 * unchanged if one is ever used. (commander's `child_process` is not worth
 * it: net.Server.listen loads it anyway, through `cluster`.)
 *
 * Only the (package, built-in) pairs listed are replaced: another dependency
 * (the AWS SDK, say) gets the real module as before. Where a dependency
 * destructures the module at its top level, a stand-in cannot be lazy, so two
 * lines are patched, and the build fails if they are no longer found as
 * written (a dependency update must then be looked at, not silently undone).
 */
const LAZY_BUILTINS: ReadonlyArray<{ readonly packageDirectory: string; readonly builtin: string }> = [
  { packageDirectory: 'node_modules/ws/', builtin: 'zlib' },
  { packageDirectory: 'node_modules/pino/', builtin: 'worker_threads' },
  { packageDirectory: 'node_modules/thread-stream/', builtin: 'worker_threads' },
];

/** Source patches: [file (from the repository root), the text as the dependency has it, what replaces it]. */
const LAZY_BUILTIN_PATCHES: ReadonlyArray<readonly [string, string, string]> = [
  ['node_modules/pino/lib/tools.js', "const { isMainThread } = require('worker_threads')", "const lazyWorkerThreads = require('worker_threads')"],
  ['node_modules/pino/lib/tools.js', 'if (!opts.sync && isMainThread) {', 'if (!opts.sync && lazyWorkerThreads.isMainThread) {'],
  ['node_modules/thread-stream/index.js', "const { Worker } = require('worker_threads')", "const lazyWorkerThreads = require('worker_threads')"],
  ['node_modules/thread-stream/index.js', 'const worker = new Worker(toExecute, {', 'const worker = new lazyWorkerThreads.Worker(toExecute, {'],
];

const LAZY_NAMESPACE = 'cloudlocker-lazy-builtin';

const lazyBuiltinsForDependencies: Plugin = {
  name: 'lazy-builtins-for-dependencies',
  setup(pluginBuild) {
    const root = pluginBuild.initialOptions.absWorkingDir ?? process.cwd();
    const relative = (file: string): string => path.relative(root, file).split(path.sep).join('/');
    pluginBuild.onResolve({ filter: /^(node:)?(zlib|worker_threads)$/ }, (args) => {
      if (args.namespace !== 'file') return undefined;
      const builtin = args.path.replace(/^node:/, '');
      const importer = relative(args.importer);
      if (!LAZY_BUILTINS.some((entry) => entry.builtin === builtin && importer.startsWith(entry.packageDirectory))) return undefined;
      return { path: builtin, namespace: LAZY_NAMESPACE };
    });
    pluginBuild.onLoad({ filter: /.*/, namespace: LAZY_NAMESPACE }, (args) => ({
      // A CommonJS module whose properties are the real module's, read when first asked for.
      contents:
        `let real;\nconst load = () => (real ??= require(${JSON.stringify(`node:${args.path}`)}));\n` +
        'module.exports = new Proxy({}, {\n' +
        '  get: (_target, key) => load()[key],\n' +
        '  has: (_target, key) => key in load(),\n' +
        '  ownKeys: () => Reflect.ownKeys(load()),\n' +
        '  getOwnPropertyDescriptor: (_target, key) => { const descriptor = Reflect.getOwnPropertyDescriptor(load(), key); return descriptor && { ...descriptor, configurable: true }; },\n' +
        '});\n',
      loader: 'js',
    }));
    const patchedFiles = [...new Set(LAZY_BUILTIN_PATCHES.map(([file]) => file))];
    for (const file of patchedFiles) {
      const absolute = path.join(root, file);
      pluginBuild.onLoad({ filter: new RegExp(`${absolute.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }, async (args) => {
        let contents = await readFile(args.path, 'utf8');
        for (const [patchFile, from, to] of LAZY_BUILTIN_PATCHES) {
          if (patchFile !== file) continue;
          if (contents.split(from).length !== 2) {
            throw new Error(`${file} no longer holds "${from}" exactly once: look at tools/bundle.ts's lazy built-ins again`);
          }
          contents = contents.replace(from, to);
        }
        return { contents, loader: 'js' };
      });
    }
  },
};

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outdirArgument = args.find((arg) => !arg.startsWith('--'));
  const outdir = outdirArgument === undefined ? undefined : path.resolve(outdirArgument);
  const result = await bundle(outdir, { minify: !args.includes('--no-minify') });
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    process.stdout.write(`${file}  ${(output.bytes / 1024).toFixed(0)} KiB\n`);
  }
}
