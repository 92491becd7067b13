import fc from 'fast-check';
import { canonicalJson, sha256Digest } from '@koa/contracts';
import { eventDigestOf, fastCanonicalJson } from './chain';
import { releaseStoryEvents } from './testing';

/** fastCanonicalJson must be byte-identical to the reference JCS (canonicalJson), or throw what it throws. */
const outcome = (f: () => string): string => {
  try {
    return `ok:${f()}`;
  } catch (e) {
    return `throws:${(e as Error).constructor.name}:${(e as Error).message}`;
  }
};

describe('fastCanonicalJson = canonicalJson (RFC 8785)', () => {
  it('on any JSON value (unicode keys and strings, doubles, nesting)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => expect(fastCanonicalJson(v)).toBe(canonicalJson(v))),
      { numRuns: 2000 },
    );
  });

  it('on objects whose keys look like array indexes (enumerated numerically, sorted as strings)', () => {
    const key = fc.oneof(fc.constantFrom('0', '1', '9', '10', '01', '-1', '4294967295', '1e3', 'a', 'B', 'é', '😀'), fc.string());
    fc.assert(
      fc.property(fc.dictionary(key, fc.jsonValue({ maxDepth: 2 })), (v) => expect(fastCanonicalJson(v)).toBe(canonicalJson(v))),
      { numRuns: 1000 },
    );
    expect(fastCanonicalJson({ 10: 1, 9: 2, a: 3 })).toBe('{"10":1,"9":2,"a":3}');
  });

  it('on values JSON cannot hold: the same output or the same TypeError', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withNullPrototype: true, withSparseArray: true, withTypedArray: true }), (v) =>
        expect(outcome(() => fastCanonicalJson(v))).toBe(outcome(() => canonicalJson(v))),
      ),
      { numRuns: 1000 },
    );
    for (const v of [{ a: NaN }, [1, undefined], { a: () => 1 }, { toJSON: () => 'x' }, new Date(0), { d: new Date(0) }, { a: undefined, b: 1 }, { __proto__: null, z: 1, a: 2 }]) {
      expect(outcome(() => fastCanonicalJson(v))).toBe(outcome(() => canonicalJson(v)));
    }
  });

  it('eventDigestOf is the SHA-256 of the reference JCS of every stored story event', () => {
    for (const e of releaseStoryEvents({ tag: 'jcs' }).events) {
      const stored = JSON.parse(JSON.stringify(e));
      expect(eventDigestOf(stored)).toBe(sha256Digest(canonicalJson(stored)));
    }
  });
});
