/**
 * `npm run bundle`: the whole command (`serve` and every client command) as
 * a few files that run with plain `node` and no node_modules, for an
 * Electron app to ship and start with `utilityProcess.fork`:
 *
 *   dist/bundle/cloudlocker.mjs          the entry (an ES module, a few KiB: tools/bundle-entry.ts)
 *   dist/bundle/cloudlocker-main.js      everything a local-only server needs, compiled by the entry with a V8 code cache
 *   dist/bundle/chunks/*.mjs             two small chunks shared with the lazy ones, and the lazy ones: the S3 backend
 *                                        and the AWS SDK (only when S3 is configured), @peculiar/x509, zxcvbn
 *
 * Bundled with esbuild: one fast native tool that understands TypeScript,
 * ESM/CommonJS mixes and code splitting at dynamic import() boundaries, which
 * is what keeps the AWS SDK out of a local-only start.
 */
import { build, transform, type Metafile, type OnLoadResult, type Plugin } from 'esbuild';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { lazyBuiltinFor } from './lazy-builtin.js';

export const BUNDLE_ENTRY_NAME = 'cloudlocker.mjs';
/** The main file, next to the entry: the command as one function expression, for vm.Script and its code cache. */
export const BUNDLE_MAIN_NAME = 'cloudlocker-main.js';
/** esbuild's ES module output for the main file, before it is turned into BUNDLE_MAIN_NAME (and deleted). */
const MAIN_MODULE_NAME = 'cloudlocker-main.mjs';
/** The main file's parameters: what a module has that a classic script compiled with vm.Script does not. */
const MAIN_PARAMETERS = ['exports', 'require', 'module', '__cloudlockerEntryUrl', '__cloudlockerImport'] as const;
/** The banner: CommonJS dependencies (commander, ws, pino) call require() for Node's built-ins. */
const REQUIRE_BANNER = "import { createRequire as __cloudlockerRequire } from 'node:module'; const require = __cloudlockerRequire(import.meta.url);";

export interface BundleResult {
  /** The entry file to run (`node <entry> serve`). */
  readonly entry: string;
  /** The main file the entry compiles (with the code cache). */
  readonly main: string;
  readonly outdir: string;
  /** The build of the main file and its chunks (inputs, chunk imports). */
  readonly metafile: Metafile;
  /** Every file written, entry and main file included. */
  readonly files: readonly string[];
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
    entryPoints: { 'cloudlocker-main': path.join(root, 'src', 'cli', 'main.ts') },
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
    banner: { js: REQUIRE_BANNER },
    minifySyntax: minify,
    minifyWhitespace: minify,
    legalComments: 'none',
    plugins: [staticCryptoForCli, lazyBuiltinsForDependencies, lazyAgeLibraries, builtinsByRequire],
    metafile: true,
    logLevel: 'warning',
  });
  const staticChunks = await writeMainFile(outdir, result.metafile, minify);
  // The entry: a small ES module that loads the shared chunks and runs the main file through the code cache.
  await build({
    absWorkingDir: root,
    entryPoints: { cloudlocker: path.join(root, 'tools', 'bundle-entry.ts') },
    outdir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    define: { CLOUDLOCKER_MAIN_FILE: JSON.stringify(`./${BUNDLE_MAIN_NAME}`), CLOUDLOCKER_STATIC_CHUNKS: JSON.stringify(staticChunks) },
    banner: { js: REQUIRE_BANNER },
    minifySyntax: minify,
    minifyWhitespace: minify,
    legalComments: 'none',
    plugins: [builtinsByRequire],
    logLevel: 'warning',
  });
  const files = (await readdir(outdir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
  return { entry: path.join(outdir, BUNDLE_ENTRY_NAME), main: path.join(outdir, BUNDLE_MAIN_NAME), outdir, metafile: result.metafile, files };
}

/**
 * esbuild's ES module for the main file → BUNDLE_MAIN_NAME: the same code as
 * CommonJS (esbuild's transform) inside one function expression whose
 * parameters stand for what the module had: `require` (the banner's, and the
 * static imports of the shared chunks, which the entry has loaded),
 * import.meta.url (the entry's) and import() of the lazy chunks (the entry's,
 * since a vm.Script has no module loader of its own). Returns the shared
 * chunks' specifiers, for the entry to load first. Throws if the output is not
 * shaped as expected (a new dynamic import that is not a chunk, a chunk that
 * imports the main file, non-ASCII text): the bundle must not half-work.
 */
async function writeMainFile(outdir: string, metafile: Metafile, minify: boolean): Promise<string[]> {
  const modulePath = path.join(outdir, MAIN_MODULE_NAME);
  const [outputName, output] = Object.entries(metafile.outputs).find(([file]) => path.basename(file) === MAIN_MODULE_NAME) ?? [];
  if (outputName === undefined || output === undefined) throw new Error(`esbuild wrote no ${MAIN_MODULE_NAME}`);
  const chunkSpecifier = (file: string) => `./${path.relative(path.dirname(outputName), file).split(path.sep).join('/')}`;
  const staticChunks = output.imports.filter((entry) => entry.kind === 'import-statement' && !entry.external).map((entry) => chunkSpecifier(entry.path));
  // Dynamic imports: the lazy chunks, and Node built-ins imported on first use (src/cli/secrets.ts: node:readline).
  const dynamicImports = output.imports.filter((entry) => entry.kind === 'dynamic-import');
  for (const entry of dynamicImports) {
    if (entry.external === true && !entry.path.startsWith('node:')) throw new Error(`the main file imports ${entry.path} dynamically, which is neither a chunk nor a built-in: tools/bundle.ts cannot give it to the main file`);
  }
  for (const [file, chunk] of Object.entries(metafile.outputs)) {
    if (chunk.imports.some((entry) => path.basename(entry.path) === MAIN_MODULE_NAME)) throw new Error(`${file} imports the main file, which is no longer a module in the bundle`);
  }

  let text = await readFile(modulePath, 'utf8');
  text = text.replace(/^#!.*\n/, '');
  if (!text.startsWith(REQUIRE_BANNER)) throw new Error(`${MAIN_MODULE_NAME} does not start with the require banner`);
  text = text.slice(REQUIRE_BANNER.length);
  // import("./chunks/…"), import("node:…") → __cloudlockerImport(…): the entry imports them. Exactly the dynamic
  // imports esbuild reports, or the build fails (one left behind would fail at run time: a vm.Script cannot import()).
  const replaced = new Set<string>();
  text = text.replace(/\bimport\((["'])((?:\.\/chunks\/|node:)[^"']+)\1\)/g, (_match, quote: string, specifier: string) => {
    replaced.add(specifier);
    return `__cloudlockerImport(${quote}${specifier}${quote})`;
  });
  const expected = new Set(dynamicImports.map((entry) => (entry.external === true ? entry.path : chunkSpecifier(entry.path))));
  if (replaced.size !== expected.size || [...expected].some((specifier) => !replaced.has(specifier)) || /\bimport\(/.test(text.replace(/__cloudlockerImport\(/g, ''))) {
    throw new Error(`the main file's dynamic imports (${[...replaced].join(', ')}) are not the ones esbuild reports (${[...expected].join(', ')}), or one is left`);
  }
  const commonJs = await transform(text, {
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    define: { 'import.meta.url': '__cloudlockerEntryUrl' },
    minifySyntax: minify,
    minifyWhitespace: minify,
    charset: 'ascii',
    legalComments: 'none',
    logLevel: 'warning',
  });
  if (/\bimport\.meta\b/.test(commonJs.code)) throw new Error('the main file still uses import.meta');
  // Strict, as the module was.
  const main = `(function (${MAIN_PARAMETERS.join(', ')}) {'use strict';\n${commonJs.code}\n})`;
  if (!/^[\x00-\x7f]*$/.test(main)) throw new Error('the main file is not ASCII (the entry reads it as latin1)');
  await writeFile(path.join(outdir, BUNDLE_MAIN_NAME), main);
  await rm(modulePath);
  return staticChunks;
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
 * log destinations are synchronous streams in this thread), or uses only on a
 * path a start never takes: `assert`, which sonic-boom calls when a log
 * destination closes and thread-stream in a transport's flush (assert loads
 * five more of Node's modules). Node compiles its internal modules for each
 * at load. In the bundle each such require gets a
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
  { packageDirectory: 'node_modules/sonic-boom/', builtin: 'assert' },
  { packageDirectory: 'node_modules/thread-stream/', builtin: 'assert' },
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
    pluginBuild.onResolve({ filter: /^(node:)?(zlib|worker_threads|assert)$/ }, (args) => {
      if (args.namespace !== 'file') return undefined;
      const builtin = args.path.replace(/^node:/, '');
      const importer = relative(args.importer);
      if (!LAZY_BUILTINS.some((entry) => entry.builtin === builtin && importer.startsWith(entry.packageDirectory))) return undefined;
      return { path: builtin, namespace: LAZY_NAMESPACE };
    });
    pluginBuild.onLoad({ filter: /.*/, namespace: LAZY_NAMESPACE }, (args) => ({
      contents: lazyBuiltinFor(args.path),
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

/**
 * The age layer's libraries compute tables when their modules are evaluated:
 * `@noble/curves` builds the ed25519 and NIST curves (field square roots, the
 * p256/p384/p521 curves that `@noble/post-quantum/hybrid.js` defines next to
 * the generic pieces cloudlocker builds its ML-KEM-768 + X25519 KEM from:
 * src/crypto/age/hybrid-kem.ts), `@noble/post-quantum` its ML-KEM zetas,
 * `@scure/base` its alphabets: about a sixth of the bundle's start-up CPU,
 * for code that no start needs (only the first request that touches an age
 * header, a card or an identity file does).
 *
 * In the bundle, the imports of these packages from src/ get a stand-in
 * module that `require()`s the real one on first use. esbuild bundles such a
 * require of an ES module in the same file, wrapped so that it is evaluated
 * when first required (`__esm`), so the libraries stay in the entry (no new
 * chunk) but their top-level code runs at the first use, not at start. Each
 * stand-in export forwards to the real export: functions are called through,
 * objects are a Proxy whose property reads come from the real one (unbound,
 * so a class such as ed25519.Point keeps its static methods). The exports are listed here by kind; the build
 * checks each against the real module, and esbuild refuses an import of a
 * name not listed. dist/ and the npm package keep the ordinary imports.
 */
const LAZY_LIBRARIES: ReadonlyArray<{ readonly specifier: string; readonly objects: readonly string[]; readonly functions: readonly string[] }> = [
  { specifier: 'age-encryption', objects: ['armor'], functions: ['identityToRecipient'] },
  { specifier: '@noble/post-quantum/hybrid.js', objects: [], functions: ['combineKEMS', 'ecdhKem'] },
  { specifier: '@noble/post-quantum/ml-kem.js', objects: ['ml_kem768'], functions: [] },
  { specifier: '@scure/base', objects: ['bech32', 'bech32m'], functions: [] },
  { specifier: '@noble/curves/ed25519.js', objects: ['ed25519'], functions: [] },
];

const LAZY_LIBRARY_NAMESPACE = 'cloudlocker-lazy-library';

const lazyAgeLibraries: Plugin = {
  name: 'lazy-age-libraries',
  setup(pluginBuild) {
    const root = pluginBuild.initialOptions.absWorkingDir ?? process.cwd();
    const sourceDirectory = path.join(root, 'src') + path.sep;
    const specifiers = new Map(LAZY_LIBRARIES.map((library) => [library.specifier, library]));
    pluginBuild.onStart(async () => {
      for (const library of LAZY_LIBRARIES) {
        const real = (await import(library.specifier)) as Record<string, unknown>;
        for (const name of library.objects) {
          if (typeof real[name] !== 'object' || real[name] === null) throw new Error(`${library.specifier}'s ${name} is no longer an object: look at tools/bundle.ts's lazy age libraries again`);
        }
        for (const name of library.functions) {
          if (typeof real[name] !== 'function') throw new Error(`${library.specifier}'s ${name} is no longer a function: look at tools/bundle.ts's lazy age libraries again`);
        }
      }
      return undefined;
    });
    pluginBuild.onResolve({ filter: /^(age-encryption|@noble\/post-quantum\/(?:hybrid|ml-kem)\.js|@scure\/base|@noble\/curves\/ed25519\.js)$/ }, (args) => {
      // Only cloudlocker's own imports; the libraries' imports of each other (all inside the lazily evaluated part) stay as they are.
      if (args.namespace !== 'file' || args.kind !== 'import-statement' || !args.importer.startsWith(sourceDirectory)) return undefined;
      return { path: args.path, namespace: LAZY_LIBRARY_NAMESPACE, pluginData: { resolveDir: args.resolveDir } };
    });
    // The real exports, re-exported by name from an ES module, so that esbuild still leaves out what cloudlocker does not use.
    pluginBuild.onResolve({ filter: /^real:/, namespace: LAZY_LIBRARY_NAMESPACE }, (args) => ({
      path: args.path,
      namespace: LAZY_LIBRARY_NAMESPACE,
      pluginData: args.pluginData as unknown,
    }));
    pluginBuild.onLoad({ filter: /.*/, namespace: LAZY_LIBRARY_NAMESPACE }, (args) => {
      const resolveDir = (args.pluginData as { resolveDir: string }).resolveDir;
      if (!args.path.startsWith('real:')) return standIn(specifiers.get(args.path)!, resolveDir);
      const library = specifiers.get(args.path.slice('real:'.length))!;
      return {
        contents: `export { ${[...library.objects, ...library.functions].join(', ')} } from ${JSON.stringify(library.specifier)};\n`,
        loader: 'js',
        resolveDir,
      };
    });
  },
};

/**
 * cloudlocker's own `import { x } from 'node:crypto'` (any built-in) is, in
 * the bundle, a require() of it. An ES module import of a built-in makes
 * Node build the module's namespace, which reads every export, and some
 * exports are getters that load more of Node: `crypto.webcrypto`/`subtle`
 * (the whole Web Crypto implementation), `util.parseArgs` and `util.MIMEType`,
 * `readline.promises`, `tls.rootCertificates` (parsing ~140 CA certificates).
 *
 * The stand-in is an ES module: `export default` the required module, and one
 * `export const name = real.name` per *data* property the built-in has (listed
 * by a fresh `node`: builtinDataProperties), never a getter, so no getter runs. (A CommonJS
 * stand-in made esbuild wrap the module object for each of the ~100 importing
 * files, `__toESM`, copying every property as a new getter: ~2 500 closures
 * and property definitions at every start, and the young-generation garbage
 * that goes with them.) Importing a getter by name fails the build ("No
 * matching export"), so no lazy getter is ever read by accident. Named imports
 * take the value the built-in had when the bundle loaded, as an ES import of
 * a built-in does; dist/ keeps the ES imports.
 */
const BUILTIN_NAMESPACE = 'cloudlocker-builtin';

const builtinsByRequire: Plugin = {
  name: 'builtins-by-require',
  setup(pluginBuild) {
    const root = pluginBuild.initialOptions.absWorkingDir ?? process.cwd();
    // tools/: the bundle's entry (tools/bundle-entry.ts).
    const ownDirectories = ['src', 'protocol', 'tools'].map((directory) => path.join(root, directory) + path.sep);
    pluginBuild.onResolve({ filter: /^node:/ }, (args) => {
      if (args.namespace !== 'file' || args.kind !== 'import-statement' || !ownDirectories.some((directory) => args.importer.startsWith(directory))) return undefined;
      return { path: args.path, namespace: BUILTIN_NAMESPACE };
    });
    pluginBuild.onLoad({ filter: /.*/, namespace: BUILTIN_NAMESPACE }, (args) => {
      const names = builtinDataProperties(args.path).filter((name) => name !== 'default' && isBindingName(name));
      return {
        contents: [`const real = require(${JSON.stringify(args.path)});`, 'export default real;', ...names.map((name) => `export const ${name} = real.${name};`)].join('\n') + '\n',
        loader: 'js',
      };
    });
  },
};

/**
 * The data properties (not getters) of a built-in, as a fresh `node` has them:
 * not this process's copy, where a lazy getter already read (util.parseArgs,
 * by a dependency of the build) has turned into a data property.
 */
function builtinDataProperties(specifier: string): string[] {
  const script = `const m = require(${JSON.stringify(specifier)}); process.stdout.write(JSON.stringify(Object.getOwnPropertyNames(m).filter((n) => 'value' in Object.getOwnPropertyDescriptor(m, n))));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: {} })) as string[];
}

/** Whether `name` can be declared as a const (an identifier, not a reserved word). */
function isBindingName(name: string): boolean {
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) return false;
  try {
    new Function(`'use strict'; const ${name} = 0;`);
    return true;
  } catch {
    return false;
  }
}

/** The stand-in of a lazy library: the same exports, each forwarding to the real one, which is required on first use. */
function standIn(library: (typeof LAZY_LIBRARIES)[number], resolveDir: string): OnLoadResult {
  const lines = [
    'let real;',
    `const load = () => (real ??= require(${JSON.stringify(`real:${library.specifier}`)}));`,
    'const lazyObject = (name) => new Proxy({}, {',
    // Unbound: a method called on the stand-in reads its properties through it; a class (ed25519.Point) keeps its statics.
    '  get: (_target, key) => load()[name][key],',
    '  has: (_target, key) => key in load()[name],',
    '  ownKeys: () => Reflect.ownKeys(load()[name]),',
    '  getOwnPropertyDescriptor: (_target, key) => { const descriptor = Reflect.getOwnPropertyDescriptor(load()[name], key); return descriptor && { ...descriptor, configurable: true }; },',
    '});',
    ...library.objects.map((name) => `export const ${name} = lazyObject(${JSON.stringify(name)});`),
    ...library.functions.map((name) => `export function ${name}(...args) { return load().${name}.apply(this, args); }`),
  ];
  return { contents: lines.join('\n') + '\n', loader: 'js', resolveDir, pluginData: { resolveDir } };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outdirArgument = args.find((arg) => !arg.startsWith('--'));
  const outdir = outdirArgument === undefined ? undefined : path.resolve(outdirArgument);
  const result = await bundle(outdir, { minify: !args.includes('--no-minify') });
  for (const file of result.files) {
    process.stdout.write(`${path.relative(process.cwd(), file)}  ${((await stat(file)).size / 1024).toFixed(0)} KiB\n`);
  }
}
