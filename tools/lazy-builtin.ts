/**
 * The stand-in that tools/bundle.ts gives a dependency in place of one of
 * Node's built-ins it loads at its top level but a start never uses
 * (`zlib`, `worker_threads`, `assert`): a CommonJS module whose properties
 * are the real module's, read when first asked for, so the real module is
 * loaded at the first use, not when the dependency is loaded. A callable
 * built-in (`assert(condition, message)`) gets a callable stand-in, whose
 * call calls the real one. Tested in test/tools/lazy-builtin.test.ts.
 *
 * What it does not keep: a failing `assert(value)` called *without* a
 * message gets a message Node generates by quoting the source of the call
 * that failed; through the stand-in the caller Node sees is the stand-in,
 * so the message does not quote the dependency's line (in a probe on
 * Node 20: "false == true", where node:assert called directly says "The
 * expression evaluated to a falsy value:" and the call). It is still an AssertionError
 * (ERR_ASSERTION, generatedMessage true). The one such call in the bundle
 * is thread-stream's, for pino transports, which cloudlocker does not use.
 */

/** Built-ins that are called as a function (`assert(condition, message)`): their stand-in must be callable too. */
const CALLABLE_BUILTINS: ReadonlySet<string> = new Set(['assert']);

/**
 * The stand-in's source the bundle embeds for the built-in `builtin` (its name without `node:`): callable
 * when the built-in is (CALLABLE_BUILTINS). tools/bundle.ts and its test both call this, so the test checks
 * what the bundle embeds, not a callable flag of its own choosing.
 */
export function lazyBuiltinFor(builtin: string): string {
  return lazyBuiltinSource(builtin, CALLABLE_BUILTINS.has(builtin));
}

/** The stand-in module's source, for the built-in `builtin` (its name without `node:`). */
function lazyBuiltinSource(builtin: string, callable: boolean): string {
  return (
    `let real;\nconst load = () => (real ??= require(${JSON.stringify(`node:${builtin}`)}));\n` +
    // A call of a callable one (an arrow function as the target: no non-configurable `prototype` to report)
    // calls the real one.
    `module.exports = new Proxy(${callable ? '() => {}' : '{}'}, {\n` +
    '  apply: (_target, self, callArguments) => Reflect.apply(load(), self, callArguments),\n' +
    '  get: (_target, key) => load()[key],\n' +
    '  has: (_target, key) => key in load(),\n' +
    '  ownKeys: () => Reflect.ownKeys(load()),\n' +
    '  getOwnPropertyDescriptor: (_target, key) => { const descriptor = Reflect.getOwnPropertyDescriptor(load(), key); return descriptor && { ...descriptor, configurable: true }; },\n' +
    '});\n'
  );
}
