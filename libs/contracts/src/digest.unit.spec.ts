import fc from 'fast-check';
import { canonicalDigest, canonicalJson, DIGEST_PATTERN, digestHex, sha256Digest } from '@koa/contracts';

/** Rebuilds every object of a JSON value with its keys inserted in a permuted order. */
function permuteKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => permuteKeys(v, seed + i));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    const rotated = entries.length ? [...entries.slice(seed % entries.length), ...entries.slice(0, seed % entries.length)].reverse() : entries;
    return Object.fromEntries(rotated.map(([k, v]) => [k, permuteKeys(v, seed + 1)]));
  }
  return value;
}

const json = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown); // drops -0 like the wire does

describe('canonicalJson (RFC 8785)', () => {
  it('is independent of key insertion order', () => {
    fc.assert(
      fc.property(json, fc.nat(50), (value, seed) => {
        expect(canonicalJson(permuteKeys(value, seed))).toBe(canonicalJson(value));
        expect(canonicalDigest(permuteKeys(value, seed))).toBe(canonicalDigest(value));
      }),
      { numRuns: 300 },
    );
  });

  it('produces JSON that parses back to the same value, with no insignificant whitespace', () => {
    fc.assert(
      fc.property(json, (value) => {
        const text = canonicalJson(value);
        expect(JSON.parse(text)).toEqual(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
      { numRuns: 300 },
    );
    expect(canonicalJson({ b: [1, { d: 2, c: 'x y' }], a: null })).toBe('{"a":null,"b":[1,{"c":"x y","d":2}]}');
  });

  it('matches the RFC 8785 §3.2.2 example', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    );
    expect(canonicalJson(input)).toBe('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
  });

  it('sorts keys by UTF-16 code units (RFC 8785 §3.2.3 example)', () => {
    const input = JSON.parse('{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", "\\u00f6": "Latin Small Letter O With Diaeresis"}');
    const text = canonicalJson(input);
    // read the order from the text: JSON.parse would move the integer-like key "1" first again
    const values = [...text.matchAll(/":"([^"]+)"/g)].map((m) => m[1]);
    expect(values).toEqual(['Carriage Return', 'One', 'Control', 'Latin Small Letter O With Diaeresis', 'Euro Sign', 'Emoji: Grinning Face', 'Hebrew Letter Dalet With Dagesh']);
  });

  it('serialises numbers as ECMAScript does (RFC 8785 Appendix B samples)', () => {
    const cases: Array<[number, string]> = [[0, '0'], [-0, '0'], [1e21, '1e+21'], [1e-7, '1e-7'], [9007199254740991, '9007199254740991'], [0.1 + 0.2, '0.30000000000000004'], [-1.5, '-1.5'], [1e23, '1e+23'], [5e-324, '5e-324']];
    for (const [n, text] of cases) expect(canonicalJson(n)).toBe(text);
  });

  it('refuses NaN, Infinity, undefined in arrays, and non-plain objects', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(/non-finite/);
    expect(() => canonicalJson({ a: Number.POSITIVE_INFINITY })).toThrow(/non-finite/);
    expect(() => canonicalJson([Number.NEGATIVE_INFINITY])).toThrow(/non-finite/);
    expect(() => canonicalJson([1, undefined])).toThrow(/undefined in array/);
    expect(() => canonicalJson({ when: new Date(0) })).toThrow(/not a plain object/);
    expect(() => canonicalJson(new Map())).toThrow(/not a plain object/);
    expect(() => canonicalJson(10n)).toThrow(/unsupported type bigint/);
    expect(() => canonicalJson(() => 1)).toThrow(/unsupported type function/);
  });

  it('omits undefined object members, like JSON', () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
  });
});

describe('digests', () => {
  it('are sha256:<64 lower-case hex>', () => {
    expect(sha256Digest('abc')).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Digest(new TextEncoder().encode('abc'))).toBe(sha256Digest('abc'));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => DIGEST_PATTERN.test(sha256Digest(bytes))), { numRuns: 100 });
  });

  it('digestHex strips the algorithm prefix', () => {
    expect(digestHex(sha256Digest('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('canonicalDigest hashes the canonical text', () => {
    expect(canonicalDigest({ b: 1, a: 2 })).toBe(sha256Digest('{"a":2,"b":1}'));
  });
});
