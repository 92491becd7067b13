import fc from 'fast-check';
import { KoaRefusal, canonicalJson, sha256Digest } from '@koa/contracts';
import { canonicalJsonFast, isCanonicalText, isPackEntityFast } from './canonical';
import { buildSearchIndex } from './search-index';
import { PACK_PARTS, PackEntitySchema, buildTermIndex, codeUnitCompare, decodePack, encodePack, indexedTexts, readUstar, score, tokenize, writeUstar, type PackEntity } from './index';

/*
 * The hot paths of encode/decode/search are shortcuts of the general rules. These tests pin each
 * one to its reference: canonicalJson of @koa/contracts, PackEntitySchema, and the §8 ranking
 * computed naively with the exported `tokenize` / `score`.
 */

const refusalOf = (f: () => unknown): KoaRefusal => {
  try {
    f();
  } catch (e) {
    if (e instanceof KoaRefusal) return e;
    throw e;
  }
  throw new Error('expected a KoaRefusal');
};

const digest = fc.integer({ min: 0, max: 40 }).map((i) => sha256Digest(`s${i}`));
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('Pump P100 SEAL seal-kit', 'Straße ÄÖ 12ab CD', 'aa bb AA aa', 'İstanbul ǅ pump', 'seal seal seal', ''),
);
const attrValue = fc.oneof(text, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
const entityArb = fc.record({
  id: fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/),
  type: fc.constantFrom('equipment', 'procedure', 'Faq'),
  title: text,
  text,
  attributes: fc.dictionary(fc.constantFrom('site', 'vendor', 'Model', 'model', 'a.b', 'k-1', 'rating'), attrValue, { maxKeys: 4 }),
  sources: fc.array(digest, { minLength: 1, maxLength: 3 }),
});
const manifest = { tenant: 'acme', pipelineVersion: '1.0.0', snapshotSetRoot: sha256Digest('root'), inputs: [{ digest: sha256Digest('in'), mediaType: 'application/json' }] };

/** §8 computed the slow, obvious way. */
function referenceSearch(entities: readonly PackEntity[], q: string, limit: number): string[] {
  const terms = [...new Set(tokenize(q))];
  if (terms.length === 0) return [];
  return entities
    .filter((e) => {
      const have = new Set(indexedTexts(e).flatMap(tokenize));
      return terms.every((t) => have.has(t));
    })
    .map((e) => ({ id: e.id, s: score(e, terms) }))
    .sort((a, b) => b.s - a.s || codeUnitCompare(a.id, b.id))
    .slice(0, limit)
    .map((r) => r.id);
}

describe('canonicalJsonFast', () => {
  it('equals canonicalJson of @koa/contracts on any JSON value (and on unsorted objects)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.dictionary(fc.string(), fc.oneof(fc.integer(), fc.string(), fc.constant(undefined))), (v, o) => {
        expect(canonicalJsonFast(v)).toBe(canonicalJson(v));
        expect(canonicalJsonFast(o)).toBe(canonicalJson(o));
      }),
      { numRuns: 300 },
    );
  });

  it('throws the same TypeError as canonicalJson for what is not plain JSON data', () => {
    for (const bad of [Number.NaN, Infinity, [1, undefined], new Date(0), new Map(), 10n, () => 1]) {
      expect(() => canonicalJsonFast(bad)).toThrow(TypeError);
      expect(() => canonicalJson(bad)).toThrow(TypeError);
    }
  });
});

describe('isCanonicalText', () => {
  it('agrees with canonicalJson(JSON.parse(text)) === text, including integer-like keys', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (v, pretty) => {
        const t = pretty ? JSON.stringify(v, null, 1) : JSON.stringify(v);
        expect(isCanonicalText(JSON.parse(t), t)).toBe(canonicalJson(JSON.parse(t)) === t);
      }),
      { numRuns: 300 },
    );
    const numericKeys = canonicalJson({ 9: 'a', 10: 'b', x: 1 }); // {"10":"b","9":"a","x":1}
    expect(isCanonicalText(JSON.parse(numericKeys), numericKeys)).toBe(true);
    expect(isCanonicalText(JSON.parse('{"b":1,"a":2}'), '{"b":1,"a":2}')).toBe(false);
  });

  it('refuses (never throws on) numbers that do not round-trip: 1e999, -0, 1.0', () => {
    for (const t of ['1e999', '-0', '1.0', '{"a":1e999}']) expect(isCanonicalText(JSON.parse(t), t)).toBe(false);
  });
});

describe('isPackEntityFast', () => {
  it('is never more lenient than PackEntitySchema (every single-field violation is left to the schema)', () => {
    const big = (n: number): string => 'x'.repeat(n);
    const mutations: Array<[string, (e: Record<string, unknown>) => void]> = [
      ['id pattern', (e) => (e.id = 'a b')],
      ['id length', (e) => (e.id = big(65))],
      ['id type', (e) => (e.id = 7)],
      ['type pattern', (e) => (e.type = 'équipement')],
      ['title length', (e) => (e.title = big(1025))],
      ['title type', (e) => (e.title = null)],
      ['text length', (e) => (e.text = big(1_048_577))],
      ['attribute key', (e) => (e.attributes = { '1abc': 'v' })],
      ['attribute value array', (e) => (e.attributes = { site: [1] })],
      ['attribute value object', (e) => (e.attributes = { site: { a: 1 } })],
      ['attribute string length', (e) => (e.attributes = { site: big(4097) })],
      ['attribute infinite', (e) => (e.attributes = { rating: Infinity })],
      ['attribute NaN', (e) => (e.attributes = { rating: Number.NaN })],
      ['129 attributes', (e) => (e.attributes = Object.fromEntries(Array.from({ length: 129 }, (_, k) => [`k${k}`, k])))],
      ['attributes array', (e) => (e.attributes = [])],
      ['attributes null', (e) => (e.attributes = null)],
      ['no sources', (e) => (e.sources = [])],
      ['bad source', (e) => (e.sources = ['sha256:ABC'])],
      ['10001 sources', (e) => (e.sources = Array.from({ length: 10_001 }, () => sha256Digest('s')))],
      ['sources not an array', (e) => (e.sources = sha256Digest('s'))],
      ['extra member', (e) => (e.extra = 1)],
      ['missing member', (e) => delete e.text],
    ];
    fc.assert(
      fc.property(entityArb, fc.constantFrom(...mutations), fc.boolean(), (valid, [, mutate], ordered) => {
        const e: Record<string, unknown> = JSON.parse(canonicalJson(valid));
        mutate(e);
        expect(PackEntitySchema.safeParse(e).success).toBe(false);
        expect(isPackEntityFast(e, ordered)).toBe(false);
      }),
      { numRuns: 300 },
    );
    for (const [name, mutate] of mutations) {
      const e: Record<string, unknown> = { id: 'a', type: 't', title: '', text: '', attributes: {}, sources: [sha256Digest('s')] };
      expect([name, isPackEntityFast(e, false)]).toEqual([name, true]);
      mutate(e);
      expect([name, isPackEntityFast(e, false)]).toEqual([name, false]);
    }
  });

  it('with canonical order, JSON.stringify of an accepted entity is its canonical JSON', () => {
    fc.assert(
      fc.property(entityArb, (e) => {
        const line = canonicalJson(e);
        const parsed = JSON.parse(line);
        expect(isPackEntityFast(parsed, true)).toBe(true);
        expect(JSON.stringify(parsed)).toBe(line);
      }),
      { numRuns: 200 },
    );
  });
});

describe('buildSearchIndex (interning scanner)', () => {
  const sortById = (es: PackEntity[]): PackEntity[] => [...es].sort((a, b) => codeUnitCompare(a.id, b.id));
  /** the postings as `{ term: [ids…] }` in canonical JSON */
  const asText = (index: ReturnType<typeof buildSearchIndex>, sorted: readonly PackEntity[]): string => {
    const out: Record<string, string[]> = Object.create(null);
    for (const t of [...index.postings.keys()].sort(codeUnitCompare)) {
      const [from, to] = index.postings.get(t) as readonly [number, number];
      out[t] = Array.from(index.entities.subarray(from, to), (p) => sorted[p].id);
    }
    return canonicalJson(out);
  };

  it('its postings are exactly buildTermIndex(entities) — the plain reference of §5', () => {
    fc.assert(
      fc.property(fc.uniqueArray(entityArb, { selector: (e) => e.id, maxLength: 15 }), (entities) => {
        const sorted = sortById(entities);
        expect(asText(buildSearchIndex(sorted), sorted)).toBe(canonicalJson(buildTermIndex(sorted)));
      }),
      { numRuns: 200 },
    );
  });

  it('stays exact past table growth, with term-length edges and case folding (6,000 distinct terms)', () => {
    const entities = sortById(
      Array.from({ length: 1500 }, (_, i) => ({
        id: `e${i}`,
        type: 'equipment',
        title: `T${i}X Alpha${i % 7}`,
        text: `w${i}a w${i}b W${i}C ${'z'.repeat(62)}${i % 100} ${'q'.repeat(65)} a ${i}`,
        attributes: { site: `Site-${i % 13}`, n: i },
        sources: [sha256Digest('s')],
      })),
    );
    const index = buildSearchIndex(entities);
    expect(index.postings.size).toBeGreaterThan(6000);
    expect(asText(index, entities)).toBe(canonicalJson(buildTermIndex(entities)));
    const pack = decodePack(encodePack({ manifest, entities, evidence: {} }).bytes);
    for (const q of ['w77c', 'ALPHA3 site 5', `${'z'.repeat(62)}42`, 'alpha1 w1b']) {
      expect(pack.search(q, 50).map((e) => e.id)).toEqual(referenceSearch(pack.entities, q, 50));
    }
  });
});

describe('search through the prebuilt postings', () => {
  it('returns exactly the §8 reference ranking (AND, score desc, id asc, limit)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(entityArb, { selector: (e) => e.id, minLength: 1, maxLength: 15 }), fc.integer({ min: 1, max: 6 }), fc.nat(), (entities, limit, pick) => {
        const pack = decodePack(encodePack({ manifest, entities, evidence: {} }).bytes);
        const words = [...new Set(pack.entities.flatMap((e) => indexedTexts(e).flatMap(tokenize)))];
        const w = (k: number): string => words[(pick + k) % Math.max(1, words.length)] ?? '';
        for (const q of [w(0), `${w(0)} ${w(1)}`, `${w(2).toUpperCase()} ${w(0)} ${w(2)}`, 'nothing-matches-zz', '!!']) {
          expect(pack.search(q, limit).map((e) => e.id)).toEqual(referenceSearch(pack.entities, q, limit));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('ties on score keep id order, and a broad query over many entities returns the best `limit`', () => {
    const many = Array.from({ length: 300 }, (_, i) => ({
      id: `e-${String(i).padStart(3, '0')}`,
      type: 'equipment',
      title: i % 7 === 0 ? 'pump pump valve' : 'pump valve',
      text: i % 5 === 0 ? 'valve' : '',
      attributes: {},
      sources: [sha256Digest('s')],
    }));
    const pack = decodePack(encodePack({ manifest, entities: many, evidence: {} }).bytes);
    for (const limit of [1, 20, 1000]) expect(pack.search('Pump VALVE', limit).map((e) => e.id)).toEqual(referenceSearch(pack.entities, 'pump valve', limit));
  });
});

describe('decodePack fast paths refuse what the general rules refuse', () => {
  const entities: PackEntity[] = [
    { id: 'a1', type: 'equipment', title: 'Pump', text: 'seal', attributes: { site: 'n', vendor: 'v' }, sources: [sha256Digest('s')] },
    { id: 'b2', type: 'equipment', title: 'Valve', text: 'seal', attributes: {}, sources: [sha256Digest('s')] },
  ];
  const good = encodePack({ manifest, entities, evidence: { passed: true } }).bytes;
  /** rewrites one part and fixes the manifest's size and digest, so only the content check can refuse */
  const withPart = (path: string, content: string): Uint8Array => {
    const entries = readUstar(good, { maxEntries: 4 });
    const m = JSON.parse(new TextDecoder().decode(entries[0].data));
    const data = new TextEncoder().encode(content);
    const p = m.parts.find((x: { path: string }) => x.path === path);
    p.size = data.length;
    p.digest = sha256Digest(data);
    return writeUstar([{ path: 'manifest.json', data: new TextEncoder().encode(canonicalJson(m)) }, ...entries.slice(1).map((e) => (e.path === path ? { path, data } : e))]);
  };
  const lines = new TextDecoder().decode(readUstar(good, { maxEntries: 4 })[1].data).trim().split('\n');

  it('an entity line with attribute names out of order is not canonical (line 1)', () => {
    const swapped = lines[0].replace('{"site":"n","vendor":"v"}', '{"vendor":"v","site":"n"}');
    expect(swapped).not.toBe(lines[0]);
    const r = refusalOf(() => decodePack(withPart(PACK_PARTS.entities.path, `${swapped}\n${lines[1]}\n`)));
    expect(r.code).toBe('PACK_FORMAT_INVALID');
    expect(r.details).toMatchObject({ part: 'entities.ndjson', line: 1 });
    expect(r.message).toMatch(/canonical/);
  });

  it('an entity line with members out of order is not canonical; an unknown member fails the schema', () => {
    const reordered = JSON.stringify({ id: 'a1', ...JSON.parse(lines[0]) });
    expect(refusalOf(() => decodePack(withPart(PACK_PARTS.entities.path, `${reordered}\n${lines[1]}\n`))).message).toMatch(/line 1 is not in canonical/);
    const extra = `${lines[0].slice(0, -1)},"x":1}`;
    expect(refusalOf(() => decodePack(withPart(PACK_PARTS.entities.path, `${extra}\n${lines[1]}\n`))).message).toMatch(/line 1: /);
  });

  it('evidence with a number that does not round-trip is refused as PACK_FORMAT_INVALID naming evidence.json', () => {
    const r = refusalOf(() => decodePack(withPart(PACK_PARTS.evidence.path, '{"n":1e999}')));
    expect(r.code).toBe('PACK_FORMAT_INVALID');
    expect(r.details).toMatchObject({ part: 'evidence.json' });
  });

  it('evidence with integer-like keys in canonical order is accepted', () => {
    const pack = decodePack(withPart(PACK_PARTS.evidence.path, canonicalJson({ 9: 'a', 10: 'b' })));
    expect(pack.evidence).toEqual({ 9: 'a', 10: 'b' });
  });

  it('the digest option is reported as given, and the parts are still hashed and compared', () => {
    const d = sha256Digest(good);
    expect(decodePack(good, { digest: d }).digest).toBe(d);
    const flipped = new Uint8Array(good);
    const entitiesAt = 512 + Math.ceil(readUstar(good, { maxEntries: 4 })[0].data.length / 512) * 512 + 512;
    flipped[entitiesAt + 3] ^= 1;
    const r = refusalOf(() => decodePack(flipped, { digest: d }));
    expect(r.code).toBe('PACK_FORMAT_INVALID');
    expect(r.details).toMatchObject({ part: 'entities.ndjson', field: 'digest' });
  });
});
