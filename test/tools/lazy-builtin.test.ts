/**
 * The bundle's lazy stand-ins for Node built-ins (tools/lazy-builtin.ts, used
 * by tools/bundle.ts for sonic-boom's and thread-stream's `assert`, ws's
 * `zlib`, pino's and thread-stream's `worker_threads`): the module source the
 * bundle embeds, run here as the CommonJS module it is, with a `require` that
 * records what it is asked for. What it promises: nothing is loaded when the
 * dependency loads it; the real module at the first use, once; and then it
 * behaves as the real one for the calls the dependencies make (sonic-boom:
 * `assert(typeof fd === 'number', message)`; thread-stream: `assert(!sync)`).
 * That a start loads none of them: test/bundle.
 */
import realAssert from 'node:assert';
import realZlib from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
import { lazyBuiltinFor } from '../../tools/lazy-builtin.js';

const builtins: Record<string, unknown> = { 'node:assert': realAssert, 'node:zlib': realZlib };

/**
 * Evaluate the stand-in's source the bundle embeds for `builtin` (lazyBuiltinFor, which tools/bundle.ts calls:
 * whether it is callable is the bundle's choice, not this test's) as a CommonJS module; `loads` lists every
 * require() it makes.
 */
function standIn<T>(builtin: string): { readonly module: T; readonly loads: string[] } {
  const loads: string[] = [];
  const require = (specifier: string): unknown => {
    loads.push(specifier);
    if (!(specifier in builtins)) throw new Error(`unexpected require(${specifier})`);
    return builtins[specifier];
  };
  const module = { exports: {} as unknown };
  new Function('module', 'exports', 'require', lazyBuiltinFor(builtin))(module, module.exports, require);
  return { module: module.exports as T, loads };
}

/** What `call` throws (fails the test if it throws nothing). */
function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('the lazy assert stand-in', () => {
  it('loads nothing when it is loaded, node:assert once at its first call, and a passing call returns what assert returns', () => {
    const { module: assert, loads } = standIn<typeof realAssert>('assert');
    expect(loads).toEqual([]);
    expect(typeof assert).toBe('function');
    expect(loads).toEqual([]);
    expect(assert(typeof 3 === 'number', 'sonic.fd must be a number, got number')).toBe(realAssert(true, 'x'));
    expect(loads).toEqual(['node:assert']);
    expect(assert(!false)).toBeUndefined();
    expect(assert(1, 'one')).toBeUndefined();
    expect(loads).toEqual(['node:assert']);
  });

  it('a failing call with a message throws node:assert\'s AssertionError with that message, as assert does', () => {
    const { module: assert } = standIn<typeof realAssert>('assert');
    const message = 'sonic.fd must be a number, got undefined';
    const ours = thrown(() => assert(typeof undefined === 'number', message)) as InstanceType<typeof realAssert.AssertionError>;
    const node = thrown(() => realAssert(typeof undefined === 'number', message)) as InstanceType<typeof realAssert.AssertionError>;
    expect(ours).toBeInstanceOf(realAssert.AssertionError);
    expect(ours.message).toBe(message);
    expect(ours.code).toBe('ERR_ASSERTION');
    expect(ours.generatedMessage).toBe(false);
    for (const key of ['name', 'message', 'code', 'generatedMessage', 'actual', 'expected', 'operator'] as const) expect(ours[key]).toEqual(node[key]);
    // An Error as the message is thrown itself.
    const own = new TypeError('own error');
    expect(thrown(() => assert(0, own))).toBe(own);
  });

  it('a failing call without a message (thread-stream\'s) still throws an AssertionError with a generated message', () => {
    const { module: assert } = standIn<typeof realAssert>('assert');
    const ours = thrown(() => assert(!true)) as InstanceType<typeof realAssert.AssertionError>;
    expect(ours).toBeInstanceOf(realAssert.AssertionError);
    expect(ours.code).toBe('ERR_ASSERTION');
    expect(ours.generatedMessage).toBe(true);
    expect(ours.actual).toBe(false);
    expect(ours.expected).toBe(true);
    // No argument at all: assert's own complaint.
    expect((thrown(() => (assert as unknown as () => void)()) as Error).message).toBe((thrown(() => (realAssert as unknown as () => void)()) as Error).message);
  });

  it('its methods and properties are node:assert\'s, read at first use', () => {
    const { module: assert, loads } = standIn<typeof realAssert>('assert');
    expect('strictEqual' in assert).toBe(true);
    expect(loads).toEqual(['node:assert']);
    expect(assert.strictEqual).toBe(realAssert.strictEqual);
    expect(assert.AssertionError).toBe(realAssert.AssertionError);
    expect(() => assert.strictEqual(1, 1)).not.toThrow();
    const failed = thrown(() => assert.strictEqual(1, 2, 'one is not two')) as InstanceType<typeof realAssert.AssertionError>;
    expect(failed).toBeInstanceOf(realAssert.AssertionError);
    const node = thrown(() => realAssert.strictEqual(1, 2, 'one is not two')) as InstanceType<typeof realAssert.AssertionError>;
    expect(failed.code).toBe('ERR_ASSERTION');
    expect(failed.message).toContain('one is not two');
    expect(failed.message).toBe(node.message);
    expect(Object.keys(assert)).toEqual(Object.keys(realAssert));
    expect(loads).toEqual(['node:assert']);
  });
});

describe('a lazy stand-in of a built-in that is not called (zlib)', () => {
  it('is an object, loads nothing until a property is read, then reads through; calling it fails as calling zlib does', () => {
    const { module: zlib, loads } = standIn<typeof realZlib>('zlib');
    expect(typeof zlib).toBe('object');
    expect(loads).toEqual([]);
    expect(zlib.constants).toBe(realZlib.constants);
    expect(zlib.createDeflateRaw).toBe(realZlib.createDeflateRaw);
    expect(loads).toEqual(['node:zlib']);
    expect(() => (zlib as unknown as () => void)()).toThrow(TypeError);
    expect(() => (realZlib as unknown as () => void)()).toThrow(TypeError);
  });
});
