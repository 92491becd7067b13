import type { z } from 'zod';
import { KoaRefusal, canonicalJson, sha256Digest, type Digest } from '@koa/contracts';
import {
  MANIFEST_PATH,
  PACK_FORMAT,
  PACK_PARTS,
  PackEntitySchema,
  PackManifestSchema,
  type PackEntity,
  type PackEntityInput,
  type PackManifest,
  type PackManifestInput,
  type PackPart,
} from './schema';
import { canonicalJsonFast, isCanonicalText, isPackEntityFast } from './canonical';
import { buildSearchIndex, searchIndex, type SearchIndex } from './search-index';
import { codeUnitCompare } from './terms';
import { readUstar, writeUstar } from './ustar';

/** Default upper bound for {@link decodePack} input: 64 MiB. */
export const PACK_MAX_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Default and maximum number of results of {@link DecodedPack.search}. */
export const SEARCH_LIMIT_DEFAULT = 20;
export const SEARCH_LIMIT_MAX = 1000;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const invalid = (message: string, details: Record<string, unknown> = {}, cause?: unknown): KoaRefusal =>
  new KoaRefusal('PACK_FORMAT_INVALID', message, details, cause === undefined ? undefined : { cause });

const zodIssue = (e: z.ZodError): string =>
  e.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');

/** sorted by code units and without duplicates (then sorting and de-duplicating is a no-op) */
function strictlyAscending(a: readonly string[]): boolean {
  for (let i = 1; i < a.length; i++) if (!(a[i - 1] < a[i])) return false;
  return true;
}

export interface EncodePackInput {
  manifest: PackManifestInput;
  /** read only: encodePack copies what it keeps and never modifies its input */
  entities: ReadonlyArray<PackEntityInput>;
  /** the validation report; written as canonical JSON to `evidence.json` */
  evidence: unknown;
}

export interface EncodedPack {
  /** the archive bytes (what goes to the pack store, what release notices name) */
  bytes: Uint8Array;
  /** sha256 of `bytes` */
  digest: Digest;
  size: number;
  manifest: PackManifest;
  /** sha256 of the `manifest.json` bytes (= `canonicalDigest(manifest)`) */
  manifestDigest: Digest;
  /** sha256 of the `evidence.json` bytes (= `canonicalDigest(evidence)`) */
  evidenceDigest: Digest;
}

/**
 * Encodes a koa-pack/1 archive (docs/pack-format.md). Pure and deterministic: the same manifest
 * fields, the same set of entities (in any order) and the same evidence give the same bytes.
 *
 * Entities are sorted by id and each entity's `sources` sorted and de-duplicated; `inputs` are
 * sorted by digest. Refuses (PACK_FORMAT_INVALID, naming the field) an entity or manifest field
 * that does not match its schema, a duplicate entity id, a duplicate input digest, and evidence
 * that is not plain JSON data.
 *
 * @example
 * const { bytes, digest } = encodePack({
 *   manifest: { tenant: 'acme', pipelineVersion: '1.0.0', snapshotSetRoot, inputs: [{ digest: d, mediaType: 'application/json' }] },
 *   entities: [{ id: 'pump-p100', type: 'equipment', title: 'Pump P100', text: '...', attributes: {}, sources: [d] }],
 *   evidence: { passed: true, results: [] },
 * });
 */
export function encodePack(input: EncodePackInput): EncodedPack {
  const head = PackManifestSchema.omit({ parts: true, counts: true, format: true }).safeParse({
    tenant: input.manifest.tenant,
    pipelineVersion: input.manifest.pipelineVersion,
    snapshotSetRoot: input.manifest.snapshotSetRoot,
    inputs: input.manifest.inputs,
  });
  if (!head.success) throw invalid(`manifest: ${zodIssue(head.error)}`, { part: MANIFEST_PATH });
  if (input.manifest.format !== undefined && input.manifest.format !== PACK_FORMAT) {
    throw invalid(`manifest.format ${JSON.stringify(input.manifest.format)} is not ${PACK_FORMAT}`, { part: MANIFEST_PATH, field: 'format' });
  }
  const inputs = [...head.data.inputs].sort((a, b) => codeUnitCompare(a.digest, b.digest));
  for (let i = 1; i < inputs.length; i++) {
    if (inputs[i].digest === inputs[i - 1].digest) throw invalid(`manifest.inputs: duplicate digest ${inputs[i].digest}`, { part: MANIFEST_PATH, field: 'inputs' });
  }

  const entities: PackEntity[] = input.entities.map((e, i) => {
    let v: PackEntityInput;
    if (isPackEntityFast(e, false)) v = e;
    else {
      const parsed = PackEntitySchema.safeParse(e);
      if (!parsed.success) throw invalid(`entity #${i} (${JSON.stringify(String((e as { id?: unknown })?.id).slice(0, 80))}): ${zodIssue(parsed.error)}`, { part: PACK_PARTS.entities.path, index: i });
      v = parsed.data;
    }
    // members and attribute names inserted in canonical order: JSON.stringify is then canonical JSON
    const attributes: PackEntity['attributes'] = {};
    const names = Object.keys(v.attributes);
    if (!strictlyAscending(names)) names.sort(codeUnitCompare);
    for (const k of names) attributes[k] = v.attributes[k];
    const sources = strictlyAscending(v.sources) ? v.sources.slice() : [...new Set<string>(v.sources)].sort(codeUnitCompare);
    return { attributes, id: v.id, sources, text: v.text, title: v.title, type: v.type };
  });
  entities.sort((a, b) => codeUnitCompare(a.id, b.id));
  for (let i = 1; i < entities.length; i++) {
    if (entities[i].id === entities[i - 1].id) throw invalid(`entities: duplicate id ${entities[i].id}`, { part: PACK_PARTS.entities.path, id: entities[i].id });
  }

  let evidenceJson: string;
  try {
    evidenceJson = canonicalJsonFast(input.evidence);
  } catch (e) {
    throw invalid(`evidence is not plain JSON data: ${(e as Error).message}`, { part: PACK_PARTS.evidence.path }, e);
  }

  const partBytes: Record<string, Uint8Array> = {
    [PACK_PARTS.entities.path]: utf8.encode(entities.map((e) => `${JSON.stringify(e)}\n`).join('')),
    [PACK_PARTS.evidence.path]: utf8.encode(evidenceJson),
    [PACK_PARTS.terms.path]: buildSearchIndex(entities).bytes,
  };
  const parts: PackPart[] = Object.values(PACK_PARTS)
    .map(({ path, mediaType }) => ({ path, mediaType, digest: sha256Digest(partBytes[path]), size: partBytes[path].length }))
    .sort((a, b) => codeUnitCompare(a.path, b.path));
  const manifest: PackManifest = {
    format: PACK_FORMAT,
    tenant: head.data.tenant,
    pipelineVersion: head.data.pipelineVersion,
    snapshotSetRoot: head.data.snapshotSetRoot,
    inputs: inputs.map((i) => ({ digest: i.digest, mediaType: i.mediaType })),
    parts,
    counts: { entities: entities.length },
  };
  const manifestBytes = utf8.encode(canonicalJson(manifest));
  const bytes = writeUstar([{ path: MANIFEST_PATH, data: manifestBytes }, ...parts.map((p) => ({ path: p.path, data: partBytes[p.path] }))]);
  return {
    bytes,
    digest: sha256Digest(bytes),
    size: bytes.length,
    manifest,
    manifestDigest: sha256Digest(manifestBytes),
    evidenceDigest: parts.find((p) => p.path === PACK_PARTS.evidence.path)?.digest as Digest,
  };
}

/** A verified, decoded pack: every check of docs/pack-format.md §7 has passed. */
export interface DecodedPack {
  /** sha256 of the archive bytes */
  readonly digest: Digest;
  readonly size: number;
  readonly manifest: PackManifest;
  readonly manifestDigest: Digest;
  /** entities sorted by id */
  readonly entities: readonly PackEntity[];
  /** the parsed `evidence.json` (the validation report the pack was built with) */
  readonly evidence: unknown;
  readonly evidenceDigest: Digest;
  /** The entity with this id, or undefined. */
  lookup(id: string): PackEntity | undefined;
  /**
   * Full-text search through `index/terms.json`: the query is tokenised like the index
   * (`tokenize`); an entity matches when it contains EVERY query term (AND); results are
   * ranked by `score` descending, then id ascending. A query with no terms returns [].
   * `limit` defaults to 20, at most 1000.
   *
   * Cost: the postings of the query terms (built once by `decodePack`, with each entity's score
   * weight per term precomputed) are intersected smallest first and the best `limit` kept:
   * O(Σ postings of the query terms + matches · log limit); no entity is re-tokenised.
   */
  search(text: string, limit?: number): PackEntity[];
}

export interface DecodePackOptions {
  /** refuse archives longer than this; default {@link PACK_MAX_BYTES_DEFAULT} */
  maxBytes?: number;
  /**
   * The sha256 of `bytes` when the caller has just established it (e.g. `verifyPackBytes` against
   * a signed release notice): reported as `digest` instead of hashing the whole archive a second
   * time. It is not a check and skips none: every part is still hashed and compared with the
   * manifest. Omit it unless the value was computed over these exact bytes.
   */
  digest?: Digest;
}

function parseCanonicalJson(bytes: Uint8Array, part: string): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch (e) {
    throw invalid(`${part} is not valid UTF-8`, { part }, e);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw invalid(`${part} is not JSON: ${(e as Error).message}`, { part }, e);
  }
  if (!isCanonicalText(value, text)) throw invalid(`${part} is not in canonical JSON form (RFC 8785)`, { part });
  return value;
}

/**
 * Decodes and verifies a koa-pack/1 archive. Fail-closed: any deviation from docs/pack-format.md
 * throws KoaRefusal PACK_FORMAT_INVALID whose message (and `details.part` / `details.field`) names
 * what is wrong. Checks, in order: size bound; strict ustar structure; entry order
 * (`manifest.json`, then the parts in manifest order); canonical manifest matching its schema;
 * every part's size and sha256 against the manifest; entities canonical, valid, strictly sorted by
 * id, count as in the manifest; the term index equal to the one rebuilt from the entities; evidence
 * canonical JSON.
 *
 * It does NOT check who built the pack or that a release names its digest: that is the release
 * verifier's job (`@koa/release/verify`), which should run first on untrusted bytes.
 */
export function decodePack(bytes: Uint8Array, o: DecodePackOptions = {}): DecodedPack {
  const maxBytes = o.maxBytes ?? PACK_MAX_BYTES_DEFAULT;
  if (bytes.length > maxBytes) throw invalid(`pack is ${bytes.length} bytes, above the bound of ${maxBytes}`, { field: 'length', size: bytes.length, maxBytes });
  // views, not copies: the part bytes are only hashed and parsed here, never kept
  const entries = readUstar(bytes, { maxEntries: 1 + Object.keys(PACK_PARTS).length, views: true });
  if (entries.length === 0 || entries[0].path !== MANIFEST_PATH) throw invalid(`the first archive entry must be ${MANIFEST_PATH}`, { part: MANIFEST_PATH });

  const manifestBytes = entries[0].data;
  const parsedManifest = PackManifestSchema.safeParse(parseCanonicalJson(manifestBytes, MANIFEST_PATH));
  if (!parsedManifest.success) throw invalid(`${MANIFEST_PATH}: ${zodIssue(parsedManifest.error)}`, { part: MANIFEST_PATH });
  const manifest = parsedManifest.data as PackManifest;

  const expectedParts = Object.values(PACK_PARTS).sort((a, b) => codeUnitCompare(a.path, b.path));
  expectedParts.forEach((p, i) => {
    const got = manifest.parts[i];
    if (got.path !== p.path || got.mediaType !== p.mediaType) {
      throw invalid(`${MANIFEST_PATH}: parts[${i}] must be ${p.path} (${p.mediaType}), found ${got.path} (${got.mediaType})`, { part: MANIFEST_PATH, field: `parts.${i}` });
    }
  });
  for (let i = 1; i < manifest.inputs.length; i++) {
    if (codeUnitCompare(manifest.inputs[i - 1].digest, manifest.inputs[i].digest) >= 0) {
      throw invalid(`${MANIFEST_PATH}: inputs are not sorted by digest and unique at index ${i}`, { part: MANIFEST_PATH, field: 'inputs' });
    }
  }
  if (entries.length !== 1 + manifest.parts.length) {
    throw invalid(`archive has ${entries.length - 1} parts, the manifest lists ${manifest.parts.length}`, { part: MANIFEST_PATH, field: 'parts' });
  }
  const data: Record<string, Uint8Array> = {};
  manifest.parts.forEach((p, i) => {
    const entry = entries[i + 1];
    if (entry.path !== p.path) throw invalid(`archive entry #${i + 1} is ${entry.path}, the manifest lists ${p.path}`, { part: p.path, field: 'order' });
    if (entry.data.length !== p.size) throw invalid(`part ${p.path} is ${entry.data.length} bytes, the manifest says ${p.size}`, { part: p.path, field: 'size' });
    const digest = sha256Digest(entry.data);
    if (digest !== p.digest) throw invalid(`part ${p.path} hashes to ${digest}, the manifest says ${p.digest}`, { part: p.path, field: 'digest' });
    data[p.path] = entry.data;
  });

  const entities = decodeEntities(data[PACK_PARTS.entities.path]);
  if (entities.length !== manifest.counts.entities) {
    throw invalid(`${PACK_PARTS.entities.path} has ${entities.length} entities, manifest.counts.entities says ${manifest.counts.entities}`, { part: MANIFEST_PATH, field: 'counts.entities' });
  }
  // §7 step 9: the index rebuilt from the entities, byte for byte; the same pass yields the
  // in-memory postings (with score weights) that search uses
  const termsPart = data[PACK_PARTS.terms.path];
  const index: SearchIndex = buildSearchIndex(entities);
  const rebuilt = index.bytes;
  if (rebuilt.length !== termsPart.length || !Buffer.from(rebuilt.buffer, rebuilt.byteOffset, rebuilt.length).equals(termsPart)) {
    throw invalid(`${PACK_PARTS.terms.path} is not the index of the entities (docs/pack-format.md §5)`, { part: PACK_PARTS.terms.path });
  }
  const evidence = parseCanonicalJson(data[PACK_PARTS.evidence.path], PACK_PARTS.evidence.path);

  const byId = new Map(entities.map((e) => [e.id, e]));
  return Object.freeze({
    digest: o.digest ?? sha256Digest(bytes),
    size: bytes.length,
    manifest,
    manifestDigest: sha256Digest(manifestBytes),
    entities,
    evidence,
    evidenceDigest: manifest.parts.find((p) => p.path === PACK_PARTS.evidence.path)?.digest as Digest,
    lookup: (id: string) => byId.get(id),
    search: (text: string, limit = SEARCH_LIMIT_DEFAULT) =>
      searchIndex(index, entities, text, Number.isInteger(limit) && limit > 0 ? Math.min(limit, SEARCH_LIMIT_MAX) : SEARCH_LIMIT_DEFAULT),
  });
}

function decodeEntities(bytes: Uint8Array): PackEntity[] {
  const part = PACK_PARTS.entities.path;
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch (e) {
    throw invalid(`${part} is not valid UTF-8`, { part }, e);
  }
  if (text.length === 0) return [];
  if (!text.endsWith('\n')) throw invalid(`${part} does not end with a line feed`, { part });
  const lines = text.slice(0, -1).split('\n');
  const out: PackEntity[] = new Array(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw invalid(`${part} line ${i + 1} is not JSON: ${(e as Error).message}`, { part, line: i + 1 }, e);
    }
    // fast path: schema-valid with members and attribute names in canonical order, so
    // JSON.stringify is its canonical JSON; anything else goes through the schema and canonicalJson
    let canonical: boolean;
    if (isPackEntityFast(value, true)) canonical = JSON.stringify(value) === line;
    else {
      const parsed = PackEntitySchema.safeParse(value);
      if (!parsed.success) throw invalid(`${part} line ${i + 1}: ${zodIssue(parsed.error)}`, { part, line: i + 1 });
      canonical = isCanonicalText(value, line);
    }
    if (!canonical) throw invalid(`${part} line ${i + 1} is not in canonical JSON form`, { part, line: i + 1 });
    const e = value as PackEntity;
    for (let s = 1; s < e.sources.length; s++) {
      if (codeUnitCompare(e.sources[s - 1], e.sources[s]) >= 0) throw invalid(`${part} line ${i + 1}: sources are not sorted and unique`, { part, line: i + 1 });
    }
    if (i > 0 && codeUnitCompare(out[i - 1].id, e.id) >= 0) {
      throw invalid(`${part} line ${i + 1}: id ${e.id} is not strictly after ${out[i - 1].id} (sorted, unique)`, { part, line: i + 1 });
    }
    // the parse result is private to this call: freeze it in place
    Object.freeze(e.attributes);
    Object.freeze(e.sources);
    out[i] = Object.freeze(e);
  }
  return out;
}
