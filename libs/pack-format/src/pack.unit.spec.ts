import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { KoaRefusal, canonicalDigest, canonicalJson, sha256Digest } from '@koa/contracts';
import {
  BLOCK,
  PACK_FORMAT,
  PACK_PARTS,
  decodePack,
  encodePack,
  readUstar,
  tokenize,
  ustarHeader,
  writeUstar,
  type PackEntity,
  type PackManifest,
} from './index';

const d = (n: number): string => sha256Digest(`input-${n}`);
const ROOT = sha256Digest('root');
const manifestInput = { tenant: 'acme', pipelineVersion: '1.0.0', snapshotSetRoot: ROOT, inputs: [{ digest: d(2), mediaType: 'text/markdown' }, { digest: d(1), mediaType: 'application/json' }] };
const entity = (id: string, over: Partial<PackEntity> = {}): PackEntity => ({
  id,
  type: 'equipment',
  title: `Title of ${id}`,
  text: `Some text about ${id}.`,
  attributes: { site: 'north', rating: 3, active: true, retired: null },
  sources: [d(1)],
  ...over,
});
const ENTITIES: PackEntity[] = [
  entity('pump-p100', { title: 'Centrifugal pump P100', text: 'Check the pump seal monthly. Pump curve in manual.', attributes: { site: 'north', vendor: 'Grundfos' } }),
  entity('valve-v2', { title: 'Gate valve V2', text: 'Seal replacement procedure for the valve.', sources: [d(2), d(1)] }),
  entity('proc-seal', { type: 'procedure', title: 'Replace a pump seal', text: 'Isolate the pump, drain, replace the seal.' }),
  entity('contact-ops', { type: 'contact', title: 'Operations desk', text: '', attributes: { phone: '+1 555 0100' } }),
];
const EVIDENCE = { passed: true, results: [{ rule: 'title-present', passed: true, subject: 'pump-p100' }] };

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    if (e instanceof KoaRefusal) return e.code;
    throw e;
  }
  return undefined;
};
const refusal = (f: () => unknown): KoaRefusal => {
  try {
    f();
  } catch (e) {
    if (e instanceof KoaRefusal) return e;
    throw e;
  }
  throw new Error('expected a KoaRefusal');
};

/** Writes an archive whose manifest lists the given part bytes with CORRECT digests. */
function forge(parts: Record<string, string>, manifestOver: Partial<PackManifest> = {}): Uint8Array {
  const enc = new TextEncoder();
  const order = Object.values(PACK_PARTS).sort((a, b) => (a.path < b.path ? -1 : 1));
  const bytes = Object.fromEntries(order.map((p) => [p.path, enc.encode(parts[p.path])]));
  const manifest: PackManifest = {
    format: PACK_FORMAT,
    tenant: 'acme',
    pipelineVersion: '1.0.0',
    snapshotSetRoot: ROOT,
    inputs: [{ digest: d(1), mediaType: 'application/json' }],
    parts: order.map((p) => ({ path: p.path, mediaType: p.mediaType, digest: sha256Digest(bytes[p.path]), size: bytes[p.path].length })),
    counts: { entities: parts[PACK_PARTS.entities.path].split('\n').filter(Boolean).length },
    ...manifestOver,
  };
  return writeUstar([{ path: 'manifest.json', data: enc.encode(canonicalJson(manifest)) }, ...order.map((p) => ({ path: p.path, data: bytes[p.path] }))]);
}
const partsOf = (bytes: Uint8Array): Record<string, string> =>
  Object.fromEntries(readUstar(bytes, { maxEntries: 4 }).map((e) => [e.path, new TextDecoder().decode(e.data)]));

describe('encodePack / decodePack', () => {
  const encoded = encodePack({ manifest: manifestInput, entities: ENTITIES, evidence: EVIDENCE });

  it('round-trips: manifest, sorted entities, evidence, digests', () => {
    const pack = decodePack(encoded.bytes);
    expect(pack.digest).toBe(encoded.digest);
    expect(pack.digest).toBe(sha256Digest(encoded.bytes));
    expect(pack.manifestDigest).toBe(encoded.manifestDigest);
    expect(pack.manifestDigest).toBe(canonicalDigest(pack.manifest));
    expect(pack.evidenceDigest).toBe(canonicalDigest(EVIDENCE));
    expect(encoded.evidenceDigest).toBe(canonicalDigest(EVIDENCE));
    expect(pack.evidence).toEqual(EVIDENCE);
    expect(pack.entities.map((e) => e.id)).toEqual(['contact-ops', 'proc-seal', 'pump-p100', 'valve-v2']);
    expect(pack.lookup('valve-v2')?.sources).toEqual([d(1), d(2)].sort());
    expect(pack.lookup('nope')).toBeUndefined();
    expect(pack.manifest.inputs.map((i) => i.digest)).toEqual([d(1), d(2)].sort());
    expect(pack.manifest.parts.map((p) => p.path)).toEqual(['entities.ndjson', 'evidence.json']);
    expect(pack.manifest.counts.entities).toBe(4);
  });

  it('lays the archive out as documented: manifest first, 512-byte blocks, two zero blocks at the end', () => {
    const entries = readUstar(encoded.bytes, { maxEntries: 10 });
    expect(entries.map((e) => e.path)).toEqual(['manifest.json', 'entities.ndjson', 'evidence.json']);
    expect(encoded.bytes.length % BLOCK).toBe(0);
    expect(encoded.bytes.subarray(encoded.bytes.length - 2 * BLOCK).every((b) => b === 0)).toBe(true);
    expect(new TextDecoder().decode(entries[0].data)).toBe(canonicalJson(encoded.manifest));
  });

  it('is readable by a stock tar (GNU tar) with the documented header values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'koa-pack-'));
    try {
      const file = join(dir, 'p.tar');
      writeFileSync(file, encoded.bytes);
      const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', file], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
      const lines = listing.trim().split('\n');
      expect(lines).toHaveLength(3);
      for (const l of lines) expect(l).toMatch(/^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00:00 /);
      expect(execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' })).toBe(canonicalJson(encoded.manifest));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('same inputs in any order ⇒ same bytes (property)', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(ENTITIES, { minLength: ENTITIES.length, maxLength: ENTITIES.length }), fc.boolean(), (shuffled, flipInputs) => {
        const inputs = flipInputs ? [...manifestInput.inputs].reverse() : manifestInput.inputs;
        const again = encodePack({ manifest: { ...manifestInput, inputs }, entities: shuffled, evidence: { results: EVIDENCE.results, passed: true } });
        expect(again.digest).toBe(encoded.digest);
      }),
      { numRuns: 50 },
    );
  });

  it('an entity already in canonical form (serialised as it is) and the same entity in any member, attribute or source order give the same bytes', () => {
    const canonical = ENTITIES.map((e) => {
      const attributes: PackEntity['attributes'] = {};
      for (const k of Object.keys(e.attributes).sort()) attributes[k] = e.attributes[k];
      return { attributes, id: e.id, sources: [...new Set(e.sources)].sort(), text: e.text, title: e.title, type: e.type };
    });
    const scrambled = ENTITIES.map((e) => {
      const attributes: PackEntity['attributes'] = {};
      for (const k of Object.keys(e.attributes).sort().reverse()) attributes[k] = e.attributes[k];
      return { type: e.type, title: e.title, text: e.text, sources: [...e.sources].reverse(), id: e.id, attributes };
    });
    const a = encodePack({ manifest: manifestInput, entities: canonical, evidence: EVIDENCE });
    const b = encodePack({ manifest: manifestInput, entities: scrambled, evidence: EVIDENCE });
    expect(a.digest).toBe(encoded.digest);
    expect(b.digest).toBe(encoded.digest);
    expect(Object.keys(scrambled[0])[0]).toBe('type'); // the input was not modified
  });

  it('any change of content changes the digest', () => {
    const changed = encodePack({ manifest: manifestInput, entities: [...ENTITIES.slice(1), { ...ENTITIES[0], text: 'x' }], evidence: EVIDENCE });
    expect(changed.digest).not.toBe(encoded.digest);
  });

  it('search: AND of normalised terms, ranked by score then id', () => {
    const pack = decodePack(encoded.bytes);
    expect(pack.search('SEAL').map((e) => e.id)).toEqual(['proc-seal', 'pump-p100', 'valve-v2']);
    expect(pack.search('pump seal').map((e) => e.id)).toEqual(['proc-seal', 'pump-p100']);
    expect(pack.search('pump  valve').map((e) => e.id)).toEqual([]);
    expect(pack.search('grundfos').map((e) => e.id)).toEqual(['pump-p100']);
    expect(pack.search('seal', 1).map((e) => e.id)).toEqual(['proc-seal']);
    expect(pack.search('a ! ?')).toEqual([]);
    expect(pack.search('constructor')).toEqual([]);
  });

  it('a term named like an Object.prototype member is an ordinary term', () => {
    const p = encodePack({ manifest: manifestInput, entities: [entity('c1', { text: 'the constructor of __proto__ hasOwnProperty' })], evidence: {} });
    expect(decodePack(p.bytes).search('constructor proto').map((e) => e.id)).toEqual(['c1']);
  });

  it('allows an empty entity list at the format level (the pipeline refuses it earlier)', () => {
    const p = encodePack({ manifest: manifestInput, entities: [], evidence: {} });
    expect(decodePack(p.bytes).entities).toEqual([]);
  });
});

describe('tokenize', () => {
  it('folds ASCII case, splits on non-alphanumerics, drops short terms, is locale-free', () => {
    expect(tokenize('Pump-P100: CHECK the seal, a b c.')).toEqual(['pump', 'p100', 'check', 'the', 'seal']);
    expect(tokenize('İstanbul Straße café')).toEqual(['stanbul', 'stra', 'caf']);
    expect(tokenize('x'.repeat(65) + ' ok')).toEqual(['ok']);
  });
});

describe('encodePack refusals', () => {
  it.each([
    ['a duplicate entity id', () => encodePack({ manifest: manifestInput, entities: [entity('a1'), entity('a1')], evidence: {} })],
    ['an id with a space', () => encodePack({ manifest: manifestInput, entities: [entity('a 1')], evidence: {} })],
    ['a non-finite attribute', () => encodePack({ manifest: manifestInput, entities: [entity('a1', { attributes: { n: Infinity } })], evidence: {} })],
    ['an entity without sources', () => encodePack({ manifest: manifestInput, entities: [entity('a1', { sources: [] })], evidence: {} })],
    ['a bad tenant', () => encodePack({ manifest: { ...manifestInput, tenant: 'a.b' }, entities: [], evidence: {} })],
    ['duplicate input digests', () => encodePack({ manifest: { ...manifestInput, inputs: [manifestInput.inputs[0], manifestInput.inputs[0]] }, entities: [], evidence: {} })],
    ['non-JSON evidence', () => encodePack({ manifest: manifestInput, entities: [], evidence: { at: new Date(0) } })],
  ])('refuses %s with PACK_FORMAT_INVALID', (_what, f) => {
    expect(code(f)).toBe('PACK_FORMAT_INVALID');
  });
});

describe('decodePack refusals (each names what is wrong)', () => {
  const good = encodePack({ manifest: manifestInput, entities: ENTITIES, evidence: EVIDENCE }).bytes;
  const mutate = (f: (b: Uint8Array) => void): Uint8Array => {
    const b = new Uint8Array(good);
    f(b);
    return b;
  };
  const entitiesOffset = (): number => {
    const manifestSize = readUstar(good, { maxEntries: 4 })[0].data.length;
    return BLOCK + Math.ceil(manifestSize / BLOCK) * BLOCK + BLOCK;
  };

  it('a flipped byte in a part ⇒ digest mismatch naming the part', () => {
    const r = refusal(() => decodePack(mutate((b) => { b[entitiesOffset() + 3] ^= 1; })));
    expect(r.code).toBe('PACK_FORMAT_INVALID');
    expect(r.details).toMatchObject({ part: 'entities.ndjson', field: 'digest' });
  });

  it('a non-zero mtime ⇒ header field mtime', () => {
    const b = new Uint8Array(good);
    const h = ustarHeader('manifest.json', readUstar(good, { maxEntries: 4 })[0].data.length);
    h.set(new TextEncoder().encode('14000000000\0'), 136);
    b.set(h, 0);
    const r = refusal(() => decodePack(b));
    expect(r.code).toBe('PACK_FORMAT_INVALID');
    expect(r.details).toMatchObject({ field: 'mtime' });
  });

  it('a wrong checksum ⇒ header field chksum', () => {
    const r = refusal(() => decodePack(mutate((b) => { b[150] = b[150] === 0x30 ? 0x31 : 0x30; })));
    expect(r.details).toMatchObject({ field: 'chksum' });
  });

  it('a symlink entry ⇒ typeflag', () => {
    const h = ustarHeader('manifest.json', 0);
    h[156] = '2'.charCodeAt(0);
    const r = refusal(() => readUstar(new Uint8Array([...h, ...new Uint8Array(2 * BLOCK)]), { maxEntries: 4 }));
    expect(r.code).toBe('PACK_FORMAT_INVALID');
    expect(r.details).toMatchObject({ field: 'typeflag' });
  });

  it.each(['/etc/passwd', '../evil', 'a/../b', 'Manifest.json', 'a//b'])('path %s is refused', (path) => {
    const h = ustarHeader('x', 0);
    h.fill(0, 0, 100);
    h.set(new TextEncoder().encode(path), 0);
    expect(code(() => readUstar(new Uint8Array([...h, ...new Uint8Array(2 * BLOCK)]), { maxEntries: 4 }))).toBe('PACK_FORMAT_INVALID');
    expect(code(() => writeUstar([{ path, data: new Uint8Array() }]))).toBe('PACK_FORMAT_INVALID');
  });

  it('bytes after the end-of-archive marker ⇒ refused', () => {
    const r = refusal(() => decodePack(new Uint8Array([...good, ...new Uint8Array(BLOCK).fill(1)])));
    expect(r.details).toMatchObject({ field: 'end' });
  });

  it('a truncated archive ⇒ refused', () => {
    expect(code(() => decodePack(good.subarray(0, good.length - BLOCK)))).toBe('PACK_FORMAT_INVALID');
    expect(code(() => decodePack(good.subarray(0, 700)))).toBe('PACK_FORMAT_INVALID');
    expect(code(() => decodePack(new Uint8Array()))).toBe('PACK_FORMAT_INVALID');
  });

  it('over maxBytes ⇒ refused before parsing', () => {
    const r = refusal(() => decodePack(good, { maxBytes: good.length - 1 }));
    expect(r.details).toMatchObject({ field: 'length' });
  });

  it('unsorted entities ⇒ refused naming the line', () => {
    const parts = partsOf(good);
    const lines = parts['entities.ndjson'].trim().split('\n').reverse();
    const r = refusal(() => decodePack(forge({ ...parts, 'entities.ndjson': lines.join('\n') + '\n' })));
    expect(r.details).toMatchObject({ part: 'entities.ndjson', line: 2 });
  });

  it('a non-canonical entity line ⇒ refused', () => {
    const parts = partsOf(good);
    const lines = parts['entities.ndjson'].trim().split('\n');
    lines[0] = JSON.stringify(JSON.parse(lines[0]), null, 1).replace(/\n/g, '');
    const r = refusal(() => decodePack(forge({ ...parts, 'entities.ndjson': lines.join('\n') + '\n' })));
    expect(r.message).toMatch(/line 1/);
  });

  it('a wrong entity count ⇒ refused naming counts.entities', () => {
    const r = refusal(() => decodePack(forge(partsOf(good), { counts: { entities: 3 } })));
    expect(r.details).toMatchObject({ field: 'counts.entities' });
  });

  it('a wrong format string ⇒ refused', () => {
    for (const format of ['koa-pack/1', 'koa-pack/3']) {
      const r = refusal(() => decodePack(forge(partsOf(good), { format: format as typeof PACK_FORMAT })));
      expect(r.message).toMatch(/format/);
    }
  });

  it('non-canonical evidence ⇒ refused naming evidence.json', () => {
    const r = refusal(() => decodePack(forge({ ...partsOf(good), 'evidence.json': '{ "passed": true }' })));
    expect(r.details).toMatchObject({ part: 'evidence.json' });
  });

  it('an entry missing, or manifest not first ⇒ refused', () => {
    const entries = readUstar(good, { maxEntries: 4 });
    expect(entries).toHaveLength(3);
    expect(code(() => decodePack(writeUstar(entries.slice(0, 2))))).toBe('PACK_FORMAT_INVALID');
    expect(code(() => decodePack(writeUstar([entries[1], entries[0], entries[2]])))).toBe('PACK_FORMAT_INVALID');
  });
});

describe('decodePack with deferEntityChecks (activation mode)', () => {
  const good = encodePack({ manifest: manifestInput, entities: ENTITIES, evidence: EVIDENCE }).bytes;
  const lines = partsOf(good)['entities.ndjson'].trim().split('\n');
  const withLines = (ls: string[], over: Partial<PackManifest> = {}): Uint8Array => forge({ ...partsOf(good), 'entities.ndjson': ls.join('\n') + '\n' }, over);
  const lazy = (b: Uint8Array) => decodePack(b, { deferEntityChecks: true });

  it('answers exactly like the eager decode (lookup of every id, search, entities, count)', () => {
    const eager = decodePack(good);
    const deferred = lazy(good);
    expect(deferred.entityCount).toBe(4);
    for (const e of eager.entities) expect(deferred.lookup(e.id)).toEqual(e);
    expect(deferred.lookup('nope')).toBeUndefined();
    expect(deferred.search('pump seal').map((e) => e.id)).toEqual(eager.search('pump seal').map((e) => e.id));
    expect(deferred.entities).toEqual(eager.entities);
    expect(deferred.evidence).toEqual(EVIDENCE);
  });

  it('refuses at decode what the structural scan sees: unsorted ids, a non-canonical line start, a wrong count, a missing final LF', () => {
    expect(refusal(() => lazy(withLines([...lines].reverse()))).details).toMatchObject({ part: 'entities.ndjson', line: 2 });
    const spaced = [...lines];
    spaced[0] = JSON.stringify(JSON.parse(spaced[0]), null, 1).replace(/\n/g, '');
    expect(refusal(() => lazy(withLines(spaced))).details).toMatchObject({ part: 'entities.ndjson', line: 1 });
    expect(refusal(() => lazy(withLines(lines, { counts: { entities: 5 } }))).details).toMatchObject({ field: 'counts.entities' });
    expect(refusal(() => lazy(forge({ ...partsOf(good), 'entities.ndjson': lines.join('\n') }))).message).toMatch(/line feed/);
  });

  it('a line that passes the scan but fails §7 step 8b is refused when used: lookup of it, search, entities — never answered from', () => {
    // canonical shape and a valid id, but a type that is not a token
    const bad = [...lines];
    const i = bad.findIndex((l) => l.includes('"id":"proc-seal"'));
    bad[i] = bad[i].replace('"type":"procedure"', '"type":"not a token"');
    const pack = lazy(withLines(bad));
    expect(pack.lookup('pump-p100')?.title).toBe('Centrifugal pump P100');
    const r = refusal(() => pack.lookup('proc-seal'));
    expect(r.code).toBe('PACK_FORMAT_INVALID');
    expect(r.details).toMatchObject({ part: 'entities.ndjson', line: i + 1 });
    expect(refusal(() => pack.search('seal')).code).toBe('PACK_FORMAT_INVALID');
    expect(refusal(() => pack.search('pump')).code).toBe('PACK_FORMAT_INVALID');
    expect(refusal(() => pack.entities).code).toBe('PACK_FORMAT_INVALID');
    // the eager decode refuses the same pack outright
    expect(refusal(() => decodePack(withLines(bad))).details).toMatchObject({ part: 'entities.ndjson', line: i + 1 });
  });

  it('a line whose parsed id is not the one its structure shows (a duplicate member) is refused on use', () => {
    const bad = [...lines];
    bad[0] = bad[0].replace(/}$/, ',"id":"zzz"}');
    const pack = lazy(withLines(bad));
    const id = /"id":"([^"]+)"/.exec(lines[0])?.[1] as string;
    expect(refusal(() => pack.lookup(id)).details).toMatchObject({ part: 'entities.ndjson', line: 1 });
    expect(pack.lookup('zzz')).toBeUndefined();
  });

  it('an attribute named id, or a value containing the id pattern escaped, does not confuse the scan', () => {
    const tricky = [
      entity('a-1', { attributes: { id: 'b-2', note: '},"id":"zz' } }),
      entity('b-2', { attributes: {} }),
    ];
    const pack = lazy(encodePack({ manifest: manifestInput, entities: tricky, evidence: EVIDENCE }).bytes);
    expect(pack.lookup('a-1')?.attributes).toEqual({ id: 'b-2', note: '},"id":"zz' });
    expect(pack.lookup('b-2')?.id).toBe('b-2');
    expect(pack.lookup('zz')).toBeUndefined();
  });
});
