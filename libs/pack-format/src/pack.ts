import { isUtf8 } from 'node:buffer';
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
 * Encodes a koa-pack/2 archive (docs/pack-format.md). Pure and deterministic: the same manifest
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

  const entities: PackEntityInput[] = input.entities.map((e, i) => {
    // already canonical (members and attribute names in order, sources sorted and unique): its
    // JSON.stringify is its canonical JSON, so it is serialised as it is (nothing is kept or modified)
    if (isPackEntityFast(e, true) && strictlyAscending(e.sources)) return e;
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

/**
 * A verified, decoded pack: every check of docs/pack-format.md §7 has passed — with
 * `deferEntityChecks`, the per-line entity checks of §7 step 8 run when a line is first used
 * (see {@link DecodePackOptions.deferEntityChecks}).
 */
export interface DecodedPack {
  /** sha256 of the archive bytes */
  readonly digest: Digest;
  readonly size: number;
  readonly manifest: PackManifest;
  readonly manifestDigest: Digest;
  /** `manifest.counts.entities` (= the number of lines of `entities.ndjson`, checked) */
  readonly entityCount: number;
  /**
   * Entities sorted by id. With `deferEntityChecks` the first access parses and checks every
   * line (throws PACK_FORMAT_INVALID naming the first bad line).
   */
  readonly entities: readonly PackEntity[];
  /** the parsed `evidence.json` (the validation report the pack was built with) */
  readonly evidence: unknown;
  readonly evidenceDigest: Digest;
  /**
   * The entity with this id, or undefined. With `deferEntityChecks` its line is parsed and
   * checked on first use (then cached): a line that fails §7 step 8 throws PACK_FORMAT_INVALID.
   */
  lookup(id: string): PackEntity | undefined;
  /**
   * Full-text search (§8): the query is tokenised like the index (`tokenize`); an entity matches
   * when it contains EVERY query term (AND); results are ranked by `score` descending, then id
   * ascending. A query with no terms returns []. `limit` defaults to 20, at most 1000.
   *
   * Cost: the first call derives the index from the entities (one tokenising pass; with
   * `deferEntityChecks` it also checks every line, and throws PACK_FORMAT_INVALID on a bad one —
   * then every later search throws it too). After that, the postings of the query terms (each
   * entity's score weight per term precomputed) are intersected smallest first and the best
   * `limit` kept: O(Σ postings of the query terms + matches · log limit).
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
  /**
   * Activation mode (the runtime client): decodePack checks everything of §7 that is about the
   * archive — bound, ustar, manifest, every part's size and sha256, evidence — and of
   * `entities.ndjson` its UTF-8, the LF framing, the line count, and, by a strict structural scan
   * of each line (§7 step 8a), each line's id and their strict ascending order. The remaining
   * per-line checks (JSON, schema, canonical form, sorted sources: step 8b) run when a line is
   * first used: `lookup` of its id, the first `search`, or `entities`. A line failing them throws
   * PACK_FORMAT_INVALID from that call; nothing answers from an unchecked line. `bytes` are kept
   * (lines are parsed from them): do not modify them afterwards. Default false: every check at
   * decode time.
   */
  deferEntityChecks?: boolean;
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
 * Decodes and verifies a koa-pack/2 archive. Fail-closed: any deviation from docs/pack-format.md
 * throws KoaRefusal PACK_FORMAT_INVALID whose message (and `details.part` / `details.field`) names
 * what is wrong. Checks, in order: size bound; strict ustar structure; entry order
 * (`manifest.json`, then the parts in manifest order); canonical manifest matching its schema;
 * every part's size and sha256 against the manifest; evidence canonical JSON; entities UTF-8,
 * LF-framed, as many as the manifest counts, ids strictly sorted, every line canonical and valid
 * (with `deferEntityChecks`, the per-line checks run on first use of the line, see there).
 *
 * It does NOT check who built the pack or that a release names its digest: that is the release
 * verifier's job (`@koa/release/verify`), which should run first on untrusted bytes.
 */
export function decodePack(bytes: Uint8Array, o: DecodePackOptions = {}): DecodedPack {
  const maxBytes = o.maxBytes ?? PACK_MAX_BYTES_DEFAULT;
  if (bytes.length > maxBytes) throw invalid(`pack is ${bytes.length} bytes, above the bound of ${maxBytes}`, { field: 'length', size: bytes.length, maxBytes });
  // views, not copies: the part bytes are hashed and parsed, and kept only with deferEntityChecks
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

  const evidence = parseCanonicalJson(data[PACK_PARTS.evidence.path], PACK_PARTS.evidence.path);
  const entities = o.deferEntityChecks ? new LazyEntities(data[PACK_PARTS.entities.path]) : EagerEntities.of(data[PACK_PARTS.entities.path]);
  if (entities.count !== manifest.counts.entities) {
    throw invalid(`${PACK_PARTS.entities.path} has ${entities.count} entities, manifest.counts.entities says ${manifest.counts.entities}`, { part: MANIFEST_PATH, field: 'counts.entities' });
  }

  let index: SearchIndex | undefined;
  let indexError: unknown;
  const searchIndexOf = (): SearchIndex => {
    if (indexError !== undefined) throw indexError;
    if (index === undefined) {
      try {
        index = buildSearchIndex(entities.all());
      } catch (e) {
        indexError = e;
        throw e;
      }
    }
    return index;
  };
  return Object.freeze({
    digest: o.digest ?? sha256Digest(bytes),
    size: bytes.length,
    manifest,
    manifestDigest: sha256Digest(manifestBytes),
    entityCount: entities.count,
    get entities() {
      return entities.all();
    },
    evidence,
    evidenceDigest: manifest.parts.find((p) => p.path === PACK_PARTS.evidence.path)?.digest as Digest,
    lookup: (id: string) => entities.lookup(id),
    search: (text: string, limit = SEARCH_LIMIT_DEFAULT) =>
      searchIndex(searchIndexOf(), entities.all(), text, Number.isInteger(limit) && limit > 0 ? Math.min(limit, SEARCH_LIMIT_MAX) : SEARCH_LIMIT_DEFAULT),
  });
}

interface EntityTable {
  readonly count: number;
  lookup(id: string): PackEntity | undefined;
  /** every entity, sorted by id (checked) */
  all(): readonly PackEntity[];
}

/** Every line parsed and checked at decode time (§7 step 8 in full). */
class EagerEntities implements EntityTable {
  private constructor(
    private readonly list: readonly PackEntity[],
    private readonly byId: ReadonlyMap<string, PackEntity>,
  ) {}
  static of(bytes: Uint8Array): EagerEntities {
    const list = decodeEntities(bytes);
    return new EagerEntities(list, new Map(list.map((e) => [e.id, e])));
  }
  get count(): number {
    return this.list.length;
  }
  lookup(id: string): PackEntity | undefined {
    return this.byId.get(id);
  }
  all(): readonly PackEntity[] {
    return this.list;
  }
}

const ENTITIES = PACK_PARTS.entities.path;
/** the canonical JSON of an entity starts with its attributes object… */
const LINE_HEAD = Buffer.from('{"attributes":{', 'latin1');
/** …which (flat, its strings escaped) ends at the first `},"id":"` of the line; then the id, then sources */
const ID_HEAD = Buffer.from('},"id":"', 'latin1');
const ID_TAIL = Buffer.from('","sources":[', 'latin1');

/**
 * §7 step 8a at decode time — UTF-8, LF framing, and each line's id found by a structural scan
 * (no JSON parse) with the ids strictly ascending — and step 8b per line on first use.
 *
 * Why the scan finds THE id of any canonical entity line: canonical JSON orders the members
 * `attributes, id, sources, …`, attribute values are scalars (no nested `}`), and inside a JSON
 * string every `"` is escaped, so no attribute name or value can contain the unescaped `},"id":"`;
 * the id is a token (no escapes). A line the scan cannot read is refused at decode time; a line it
 * reads but that fails step 8b is refused when used, and also if its parsed id is not the scanned one.
 */
class LazyEntities implements EntityTable {
  readonly count: number;
  private readonly starts: Int32Array;
  private readonly ids: string[];
  private readonly byId = new Map<string, number>();
  private readonly parsed: Array<PackEntity | undefined>;
  private list: readonly PackEntity[] | undefined;
  private failure: unknown;

  constructor(private readonly bytes: Uint8Array) {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (!isUtf8(buf)) throw invalid(`${ENTITIES} is not valid UTF-8`, { part: ENTITIES });
    if (buf.length > 0 && buf[buf.length - 1] !== 0x0a) throw invalid(`${ENTITIES} does not end with a line feed`, { part: ENTITIES });
    const starts: number[] = [];
    const ids: string[] = [];
    for (let at = 0; at < buf.length; ) {
      const end = buf.indexOf(0x0a, at);
      const line = starts.length + 1;
      const bad = (what: string): KoaRefusal => invalid(`${ENTITIES} line ${line} ${what}`, { part: ENTITIES, line });
      if (end - at < LINE_HEAD.length || buf.compare(LINE_HEAD, 0, LINE_HEAD.length, at, at + LINE_HEAD.length) !== 0) throw bad('does not start with {"attributes":{ (not a canonical entity)');
      const idAt = buf.indexOf(ID_HEAD, at + LINE_HEAD.length - 1);
      if (idAt < 0 || idAt > end) throw bad('has no "id" member after its attributes (not a canonical entity)');
      let idEnd = idAt + ID_HEAD.length;
      while (idEnd < end && isTokenByte(buf[idEnd])) idEnd++;
      const idLen = idEnd - idAt - ID_HEAD.length;
      if (idLen < 1 || idLen > 64 || idEnd + ID_TAIL.length > end || buf.compare(ID_TAIL, 0, ID_TAIL.length, idEnd, idEnd + ID_TAIL.length) !== 0) {
        throw bad('has no token id followed by "sources" (not a canonical entity)');
      }
      const id = buf.toString('latin1', idAt + ID_HEAD.length, idEnd);
      if (ids.length > 0 && !(ids[ids.length - 1] < id)) throw invalid(`${ENTITIES} line ${line}: id ${id} is not strictly after ${ids[ids.length - 1]} (sorted, unique)`, { part: ENTITIES, line });
      starts.push(at);
      ids.push(id);
      this.byId.set(id, ids.length - 1);
      at = end + 1;
    }
    starts.push(buf.length);
    this.starts = Int32Array.from(starts);
    this.ids = ids;
    this.count = ids.length;
    this.parsed = new Array(ids.length);
  }

  lookup(id: string): PackEntity | undefined {
    const i = this.byId.get(id);
    return i === undefined ? undefined : this.at(i);
  }

  all(): readonly PackEntity[] {
    if (this.failure !== undefined) throw this.failure;
    if (this.list === undefined) {
      try {
        const out = new Array<PackEntity>(this.count);
        for (let i = 0; i < this.count; i++) out[i] = this.at(i);
        this.list = Object.freeze(out);
      } catch (e) {
        this.failure = e;
        throw e;
      }
    }
    return this.list;
  }

  private at(i: number): PackEntity {
    const cached = this.parsed[i];
    if (cached) return cached;
    const line = strictUtf8.decode(this.bytes.subarray(this.starts[i], this.starts[i + 1] - 1));
    const e = checkEntityLine(line, i);
    if (e.id !== this.ids[i]) throw invalid(`${ENTITIES} line ${i + 1}: id ${JSON.stringify(e.id)} is not the id ${this.ids[i]} its structure shows`, { part: ENTITIES, line: i + 1 });
    this.parsed[i] = e;
    return e;
  }
}

const isTokenByte = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d;

/** §7 step 8 for one line (index `i`): JSON, schema, canonical form, sorted unique sources; frozen. */
function checkEntityLine(line: string, i: number): PackEntity {
  const part = ENTITIES;
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
  // the parse result is private to this call: freeze it in place
  Object.freeze(e.attributes);
  Object.freeze(e.sources);
  return Object.freeze(e);
}

function decodeEntities(bytes: Uint8Array): PackEntity[] {
  const part = ENTITIES;
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
    const e = checkEntityLine(lines[i], i);
    if (i > 0 && codeUnitCompare(out[i - 1].id, e.id) >= 0) {
      throw invalid(`${part} line ${i + 1}: id ${e.id} is not strictly after ${out[i - 1].id} (sorted, unique)`, { part, line: i + 1 });
    }
    out[i] = e;
  }
  return out;
}
