/**
 * Imported first by the bundle's entry (tools/bundle-entry.ts), before the
 * command sets its V8 flag (src/cli/early-gc-tuning.ts): loads the Node
 * built-ins every start needs, while Node's own code cache for them is still
 * accepted.
 *
 * Why: Node ships its built-in modules with a V8 code cache, and V8 takes a
 * code cache only under the flags it was made with. Once a flag has been set
 * at run time (`v8.setFlagsFromString`, which the command must do before it
 * compiles its main file, see code-cache.ts), every built-in loaded after
 * that is compiled from its source instead: 57 of them in a `serve` start
 * (crypto, net, tls, https, http, child_process, cluster, dns and their
 * internals), about a sixth of its CPU (NODE_DEBUG_NATIVE=CODE_CACHE lists
 * them as "rejected"; docs/benchmarks.md, start8). Loaded here, they cost
 * what they cost a plain `node`; the command then finds them loaded.
 *
 * Only what a start loads anyway: the modules of TLS, HTTP, crypto and the
 * file system every command uses; `cluster` and `dns`, which Node's
 * `server.listen()` loads, only for `serve`. A built-in missing here is only
 * slower to load, never a failure; test/bundle checks that a `serve` reaches
 * "listening" without a rejected built-in.
 */
import { createRequire } from 'node:module';

/** Every command: the client commands speak wss too. */
const EVERY_COMMAND = ['crypto', 'fs/promises', 'os', 'net', 'tls', 'http', 'https', 'child_process', 'process'] as const;
/** `serve` only: what net.Server's listen() loads (cluster, dns). */
const SERVE_ONLY = ['cluster', 'dns'] as const;

const requireBuiltin = createRequire(import.meta.url);
for (const name of [...EVERY_COMMAND, ...(process.argv[2] === 'serve' ? SERVE_ONLY : [])]) requireBuiltin(`node:${name}`);
