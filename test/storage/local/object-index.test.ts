import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ObjectIndex } from '../../../src/storage/local/object-index.js';

const name = fc.constantFrom('a', 'a/b', 'ab', 'b', 'é', 'e\u0301', '😀', '\uff5e', 'a/😀', 'A', 'a/a', 'a/c', 'z', 'z\uE000', 'z\uFFFD', 'z😀');
const operation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), name, size: fc.nat(100) }),
  fc.record({ kind: fc.constant('delete' as const), name }),
);

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

describe('ObjectIndex', () => {
  it('pages exactly like filtering and sorting a plain map (property)', () => {
    fc.assert(
      fc.property(
        fc.array(operation, { maxLength: 40 }),
        fc.constantFrom('', 'a', 'a/', 'é', 'z', 'q'),
        fc.integer({ min: 1, max: 5 }),
        (operations, prefix, limit) => {
          const index = new ObjectIndex();
          const model = new Map<string, number>();
          for (const op of operations) {
            if (op.kind === 'set') {
              index.set({ name: op.name, storedSize: op.size, modifiedAt: new Date(0) });
              model.set(op.name, op.size);
            } else {
              index.delete(op.name);
              model.delete(op.name);
            }
          }
          const expected = [...model.keys()].filter((n) => n.startsWith(prefix)).sort(byteOrder);
          const seen: string[] = [];
          let after: string | undefined;
          // Bounded: a page that stops advancing fails the test instead of hanging a worker.
          for (let pages = 0; ; pages++) {
            if (pages > model.size + 1) throw new Error(`paging did not end: ${JSON.stringify(seen)}`);
            const page = index.page({ prefix, after, limit });
            // A page never holds more than the client asked for, and only a full page says more follow.
            expect(page.objects.length).toBeLessThanOrEqual(limit);
            if (page.hasMore) expect(page.objects.length).toBe(limit);
            seen.push(...page.objects.map((o) => o.name));
            for (const o of page.objects) expect(o.storedSize).toBe(model.get(o.name));
            if (!page.hasMore) break;
            after = page.objects[page.objects.length - 1].name;
          }
          expect(seen).toEqual(expected);
          expect(index.size).toBe(model.size);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a cursor anywhere (before the prefix, inside its run, past it) gives the names with the prefix strictly after it (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(name, { maxLength: 16 }),
        fc.constantFrom('', 'a', 'a/', 'b', 'z', 'é'),
        fc.oneof(name, fc.constantFrom('', '0', 'Z', '`', 'a.', 'y', '\u{10FFFF}')),
        fc.integer({ min: 1, max: 20 }),
        (names, prefix, after, limit) => {
          const index = new ObjectIndex();
          index.reset(names.map((n) => ({ name: n, storedSize: 0, modifiedAt: new Date(0) })));
          const following = names.filter((n) => n.startsWith(prefix) && byteOrder(n, after) > 0).sort(byteOrder);
          const page = index.page({ prefix, after, limit });
          expect(page.objects.map((o) => o.name)).toEqual(following.slice(0, limit));
          expect(page.hasMore).toBe(following.length > limit);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a cursor before the prefix does not end the listing at the names between the two', () => {
    const index = new ObjectIndex();
    index.reset(['a', 'aa', 'ab', 'b1', 'b2'].map((n) => ({ name: n, storedSize: 0, modifiedAt: new Date(0) })));
    expect(index.page({ prefix: 'b', after: 'a', limit: 10 })).toEqual({
      objects: ['b1', 'b2'].map((n) => ({ name: n, storedSize: 0, modifiedAt: new Date(0) })),
      hasMore: false,
    });
  });

  it('reset() sorts non-ASCII names in UTF-8 byte order, as set() does (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(name, { maxLength: 13 }), (names) => {
        const rebuilt = new ObjectIndex();
        rebuilt.reset(names.map((n) => ({ name: n, storedSize: 0, modifiedAt: new Date(0) })));
        const inserted = new ObjectIndex();
        for (const n of names) inserted.set({ name: n, storedSize: 0, modifiedAt: new Date(0) });
        const all = (index: ObjectIndex) => index.page({ prefix: '', limit: 100 }).objects.map((o) => o.name);
        expect(all(rebuilt)).toEqual([...names].sort(byteOrder));
        expect(all(inserted)).toEqual(all(rebuilt));
      }),
      { numRuns: 200 },
    );
  });

  it('reset() replaces the content and sorts it', () => {
    const index = new ObjectIndex();
    index.set({ name: 'old', storedSize: 1, modifiedAt: new Date(0) });
    index.reset(['c', 'a', 'b'].map((n) => ({ name: n, storedSize: 0, modifiedAt: new Date(0) })));
    expect(index.page({ prefix: '', limit: 10 }).objects.map((o) => o.name)).toEqual(['a', 'b', 'c']);
    expect(index.get('old')).toBeUndefined();
    expect(index.get('b')).toEqual({ name: 'b', storedSize: 0, modifiedAt: new Date(0) });
  });
});
