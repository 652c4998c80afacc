/**
 * A V8 code cache for the bundle's main file (issue 17: cold start).
 *
 * The bundle (tools/bundle.ts) is a small ES module entry (tools/bundle-entry.ts)
 * and a main file holding everything else as one function expression. The
 * entry compiles the main file with `vm.Script` and hands V8 the code cache a
 * previous start wrote, so V8 deserializes the compiled code instead of parsing
 * ~900 KiB of JavaScript and compiling each function the start runs; that
 * parsing and compiling was about a quarter of a start's CPU. Node 20 has no
 * `module.enableCompileCache()` (22.1+), so this is the way `v8-compile-cache`
 * does it for CommonJS, for one file.
 *
 * Where: `<dataDir>/code-cache/`, the data directory the command uses (the same
 * rule as the server's: `--data-dir`, else CLOUDLOCKER_DATA_DIR, else the
 * platform's): a place only the user can write (0700), never next to the bundle
 * (inside a signed or read-only app). One file per runtime (node or Electron
 * binary and version), so two runtimes sharing a data directory do not
 * overwrite each other's. CLOUDLOCKER_CODE_CACHE=off turns the cache off.
 *
 * The cache must never make a start fail, and V8 must never be handed bytes
 * it did not write for this very source: V8 itself checks only a version, its
 * flags and the source's *length* (in release builds not even its own
 * checksum), so the file carries a header with the SHA-256 of the main file's
 * bytes, the runtime it was made by, and the SHA-256 of V8's data. Any mismatch
 * (truncated, corrupt, another bundle's, another runtime's, unreadable) means
 * "no cache": the main file is compiled from source as without the cache, and
 * a fresh cache is written. So is a cache V8 itself rejects
 * (`script.cachedDataRejected`). Someone who can write the data directory
 * could still plant a cache that passes these checks and so run code as the
 * user; the data directory is trusted for that reason (docs/security.md).
 *
 * When: the cache is made after the command's work is done (for `serve`,
 * once it listens), plus WRITE_DELAY_MS, so it holds every function the start
 * compiled, not only the top level; it is written atomically (a temporary
 * file, then rename). A short command that exits before that writes nothing.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { debuglog } from 'node:util';
import vm from 'node:vm';
import { platformDataDir } from '../config/data-dir.js';

/** NODE_DEBUG=cloudlocker prints what the cache did at each start. */
const debug = debuglog('cloudlocker');

export const CODE_CACHE_DIRECTORY = 'code-cache';
export const CODE_CACHE_MAGIC = 'cloudlocker v8 code cache 1\n';
/** After the command's work (serve: listening), before the cache is made: the first requests' own compiles go in too, and the start is not delayed. */
export const WRITE_DELAY_MS = 1000;

/** What a cache is valid for. */
export interface CodeCacheKey {
  /** SHA-256 (hex) of the main file's bytes. */
  readonly source: string;
  /** The runtime that made it: runtimeDescription(). */
  readonly runtime: string;
}

interface CodeCacheHeader {
  readonly source: string;
  readonly runtime: string;
  /** SHA-256 (hex) of V8's data that follows the header. */
  readonly data: string;
  readonly length: number;
}

export type CodeCacheRead = { readonly ok: true; readonly data: Buffer } | { readonly ok: false; readonly reason: string };

/** The runtime a cache belongs to: V8 takes only a cache made by the same V8 with the same flags. */
export function runtimeDescription(processInfo: Pick<NodeJS.Process, 'version' | 'versions' | 'platform' | 'arch' | 'execPath'> = process): string {
  const electron = processInfo.versions['electron'];
  return [`node ${processInfo.version}`, `v8 ${processInfo.versions.v8}`, ...(electron === undefined ? [] : [`electron ${electron}`]), `${processInfo.platform}-${processInfo.arch}`, processInfo.execPath].join('; ');
}

/** The cache file's name in the code-cache directory: one per runtime. */
export function codeCacheFileName(runtime: string): string {
  return `cloudlocker-${sha256(runtime).slice(0, 16)}.v8cache`;
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * `<dataDir>/code-cache`, the data directory found as the commands find it
 * (the last `--data-dir` before a `--`, else CLOUDLOCKER_DATA_DIR, else the
 * platform's), or undefined when CLOUDLOCKER_CODE_CACHE turns the cache off.
 */
export function codeCacheDirectory(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, cwd: string): string | undefined {
  const setting = env['CLOUDLOCKER_CODE_CACHE']?.trim().toLowerCase();
  if (setting === 'off' || setting === '0' || setting === 'false') return undefined;
  let fromFlag: string | undefined;
  for (let index = 2; index < argv.length; index += 1) {
    const argument = argv[index]!;
    if (argument === '--') break;
    if (argument === '--data-dir' && index + 1 < argv.length) fromFlag = argv[(index += 1)];
    else if (argument.startsWith('--data-dir=')) fromFlag = argument.slice('--data-dir='.length);
  }
  const nonEmpty = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);
  const dataDir = nonEmpty(fromFlag) ?? nonEmpty(env['CLOUDLOCKER_DATA_DIR']) ?? platformDataDir(env);
  return path.join(path.resolve(cwd, dataDir), CODE_CACHE_DIRECTORY);
}

export function encodeCodeCache(key: CodeCacheKey, data: Uint8Array): Buffer {
  const header: CodeCacheHeader = { source: key.source, runtime: key.runtime, data: sha256(data), length: data.length };
  return Buffer.concat([Buffer.from(`${CODE_CACHE_MAGIC}${JSON.stringify(header)}\n`, 'utf8'), data]);
}

/** V8's data from a cache file, if the file is whole and was made for this key; else why not. */
export function decodeCodeCache(file: Buffer, key: CodeCacheKey): CodeCacheRead {
  const magic = Buffer.from(CODE_CACHE_MAGIC, 'utf8');
  if (file.length < magic.length || !file.subarray(0, magic.length).equals(magic)) return { ok: false, reason: 'not a cloudlocker code cache' };
  const headerEnd = file.indexOf(0x0a, magic.length);
  if (headerEnd === -1) return { ok: false, reason: 'truncated header' };
  let header: Partial<CodeCacheHeader>;
  try {
    header = JSON.parse(file.subarray(magic.length, headerEnd).toString('utf8')) as Partial<CodeCacheHeader>;
  } catch {
    return { ok: false, reason: 'unreadable header' };
  }
  if (header === null || typeof header !== 'object') return { ok: false, reason: 'unreadable header' };
  if (header.source !== key.source) return { ok: false, reason: 'made for another main file' };
  if (header.runtime !== key.runtime) return { ok: false, reason: 'made by another runtime' };
  const data = file.subarray(headerEnd + 1);
  if (header.length !== data.length) return { ok: false, reason: `truncated or extended (${data.length} bytes of data, header says ${String(header.length)})` };
  if (header.data !== sha256(data)) return { ok: false, reason: 'data does not match its checksum' };
  return { ok: true, data };
}

export interface RunMainOptions {
  /** The main file: one function expression `(function (exports, require, module, __cloudlockerEntryUrl, __cloudlockerImport) {...})`. */
  readonly mainFile: string;
  /** The entry's import.meta.url: what the main file's code saw as import.meta.url when it was the entry itself. */
  readonly entryUrl: string;
  /** The chunks the entry imported for the main file, by the specifier the main file requires them with. */
  readonly modules: ReadonlyMap<string, unknown>;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

/** What the cache did at this start (NODE_DEBUG=cloudlocker prints it; the tests read it). */
export interface CodeCacheOutcome {
  /** off: CLOUDLOCKER_CODE_CACHE; none: no file yet; accepted: V8 used it; invalid/unreadable: not handed to V8; rejected: V8 refused it. */
  readonly status: 'off' | 'none' | 'accepted' | 'invalid' | 'unreadable' | 'rejected';
  readonly reason?: string;
  readonly cacheFile?: string;
  /** Unless accepted or off: settles when a new cache has been written (true) or could not be (false). */
  readonly written?: Promise<boolean>;
}

/** Compiles the main file (with the code cache when there is a valid one), runs it, and writes a cache if there was no usable one. */
export function runMainWithCodeCache(options: RunMainOptions): CodeCacheOutcome {
  const sourceBytes = readFileSync(options.mainFile);
  // The build checks the main file is ASCII (esbuild escapes the rest), so latin1 is exact, and V8 gets a one-byte string without decoding.
  const source = sourceBytes.toString('latin1');
  const directory = codeCacheDirectory(options.argv, options.env, options.cwd);
  const key: CodeCacheKey = { source: sha256(sourceBytes), runtime: runtimeDescription() };
  const cacheFile = directory === undefined ? undefined : path.join(directory, codeCacheFileName(key.runtime));
  let cachedData: Buffer | undefined;
  let status: CodeCacheOutcome['status'] = 'off';
  let reason: string | undefined;
  if (cacheFile !== undefined) {
    try {
      const read = decodeCodeCache(readFileSync(cacheFile), key);
      if (read.ok) {
        cachedData = read.data;
        status = 'accepted';
      } else {
        status = 'invalid';
        reason = read.reason;
      }
    } catch (err) {
      status = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'none' : 'unreadable';
      if (status === 'unreadable') reason = (err as Error).message;
    }
  }
  const script = new vm.Script(source, { filename: options.mainFile, ...(cachedData === undefined ? {} : { cachedData }) });
  if (cachedData !== undefined && script.cachedDataRejected === true) status = 'rejected';
  debug('code cache %s: %s%s', cacheFile ?? '(CLOUDLOCKER_CODE_CACHE)', status, reason === undefined ? '' : ` (${reason})`);

  const nodeRequire = createRequire(options.entryUrl);
  const requireForMain = (specifier: string): unknown => (options.modules.has(specifier) ? options.modules.get(specifier) : nodeRequire(specifier));
  const importForMain = (specifier: string): Promise<unknown> => import(new URL(specifier, options.entryUrl).href);
  const mainModule = { exports: {} as { finished?: Promise<unknown> } };
  const main = script.runInThisContext() as (exports: object, require: (specifier: string) => unknown, module: object, entryUrl: string, importChunk: (specifier: string) => Promise<unknown>) => void;
  main.call(undefined, mainModule.exports, requireForMain, mainModule, options.entryUrl, importForMain);

  const outcome = { status, ...(reason === undefined ? {} : { reason }), ...(cacheFile === undefined ? {} : { cacheFile }) };
  if (cacheFile === undefined || status === 'accepted') return outcome;
  const finished = mainModule.exports.finished ?? Promise.resolve();
  const written = new Promise<boolean>((resolve) => {
    const later = () => {
      setTimeout(() => resolve(writeCodeCache(script, cacheFile, key)), WRITE_DELAY_MS).unref();
    };
    void finished.then(later, later);
  });
  return { ...outcome, written };
}

/** Writes the cache atomically; never throws (a cache that cannot be written is only a slower next start). */
export async function writeCodeCache(script: vm.Script, cacheFile: string, key: CodeCacheKey): Promise<boolean> {
  const temporary = `${cacheFile}.${process.pid}.${Date.now()}.tmp`;
  try {
    const file = encodeCodeCache(key, script.createCachedData());
    // The data directory must exist already (the command made it, or it is not ours to make); only code-cache/ is created.
    await mkdir(path.dirname(cacheFile), { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    await writeFile(temporary, file, { mode: 0o600, flag: 'wx' });
    await rename(temporary, cacheFile);
    debug('code cache %s: written, %d bytes', cacheFile, file.length);
    return true;
  } catch (err) {
    debug('code cache %s: not written (%s)', cacheFile, (err as Error).message);
    await rm(temporary, { force: true }).catch(() => undefined);
    return false;
  }
}
