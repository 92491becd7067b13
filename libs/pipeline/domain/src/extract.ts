import { KoaRefusal, digestHex } from '@koa/contracts';
import { codeUnitCompare } from '@koa/pack-format';
import type { AttributeValue, ExtractedRecord, PipelineInput } from './types';

/** Media types the extractor understands (after normalisation, see {@link normaliseMediaType}). */
export const SUPPORTED_MEDIA_TYPES = ['application/json', 'application/x-ndjson', 'text/markdown', 'text/plain'] as const;
export type SupportedMediaType = (typeof SUPPORTED_MEDIA_TYPES)[number];

/** The `type` given to a `text/plain` record. */
export const PLAIN_TEXT_TYPE = 'document';

/** record fields that are not attributes */
const isReserved = (k: string): boolean => k === 'id' || k === 'type' || k === 'title' || k === 'text' || k === 'attributes';
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * `type/subtype` lower-cased with parameters removed. A `charset` parameter other than `utf-8`
 * (any case) is refused: every text format is read as UTF-8. Returns undefined if unsupported.
 */
export function normaliseMediaType(mediaType: string): SupportedMediaType | undefined {
  const [essence, ...params] = mediaType.split(';').map((s) => s.trim().toLowerCase());
  for (const p of params) {
    const [k, v] = p.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (k === 'charset' && v !== 'utf-8' && v !== 'utf8') return undefined;
  }
  return (SUPPORTED_MEDIA_TYPES as readonly string[]).includes(essence) ? (essence as SupportedMediaType) : undefined;
}

const parseFailed = (input: PipelineInput, line: number | undefined, what: string): KoaRefusal =>
  new KoaRefusal(
    'EXTRACT_PARSE_FAILED',
    `snapshot ${input.digest} (${input.mediaType})${line === undefined ? '' : ` line ${line}`}: ${what}`,
    { digest: input.digest, mediaType: input.mediaType, ...(line === undefined ? {} : { line }) },
  );

const lineAt = (text: string, position: number): number => {
  let line = 1;
  for (let i = 0; i < position && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
};

/** Decodes UTF-8 strictly (a BOM is dropped) and turns CRLF/CR line ends into LF. */
function decodeText(input: PipelineInput): string {
  try {
    const text = strictUtf8.decode(input.bytes);
    return text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
  } catch {
    throw parseFailed(input, undefined, 'is not valid UTF-8');
  }
}

function parseJson(input: PipelineInput, text: string, lineOffset: number): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec((e as Error).message);
    const line = m ? lineOffset + lineAt(text, Number(m[1])) - 1 : lineOffset + lineAt(text, text.length) - 1;
    throw parseFailed(input, line, `not valid JSON (${(e as Error).message})`);
  }
}

const isScalar = (v: unknown): v is AttributeValue =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * One JSON object ⇒ one record. `id` must be a string; `type`, `title`, `text` are optional strings
 * (missing ⇒ `""`, which validation then judges); `attributes` (an object of scalars) and every
 * other top-level scalar field become attributes. Nested objects/arrays elsewhere are refused.
 */
function recordFromObject(input: PipelineInput, o: unknown, location: string, line: number | undefined): ExtractedRecord {
  if (!isPlainObject(o)) throw recordFailed(input, line, location, 'a record must be a JSON object');
  if (typeof o.id !== 'string') throw recordFailed(input, line, location, 'field "id" must be a string');
  for (const k of ['type', 'title', 'text'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw recordFailed(input, line, location, `field "${k}" must be a string`);
  }
  const collected: Record<string, AttributeValue> = {};
  if (o.attributes !== undefined) {
    if (!isPlainObject(o.attributes)) throw recordFailed(input, line, location, 'field "attributes" must be an object of scalars');
    const given = o.attributes;
    for (const k of Object.keys(given)) {
      const v = given[k];
      if (!isScalar(v)) throw recordFailed(input, line, location, `attribute "${k}" must be a string, finite number, boolean or null`);
      collected[k] = v;
    }
  }
  for (const k of Object.keys(o)) {
    if (isReserved(k)) continue;
    const v = o[k];
    if (!isScalar(v)) throw recordFailed(input, line, location, `field "${k}" must be a string, finite number, boolean or null (nest structured data under "attributes" as scalars)`);
    if (Object.prototype.hasOwnProperty.call(collected, k)) throw recordFailed(input, line, location, `field "${k}" is given both at top level and in "attributes"`);
    collected[k] = v;
  }
  // attribute names in code-unit order (what the pack stores; resolve and compile then copy nothing)
  const names = Object.keys(collected);
  let attributes = collected;
  if (!strictlyAscending(names)) {
    attributes = {};
    for (const k of names.sort(codeUnitCompare)) attributes[k] = collected[k];
  }
  return { id: o.id, type: (o.type as string | undefined) ?? '', title: (o.title as string | undefined) ?? '', text: (o.text as string | undefined) ?? '', attributes, source: input.digest, location };
}

const recordFailed = (input: PipelineInput, line: number | undefined, location: string, what: string): KoaRefusal => parseFailed(input, line, `${location}: ${what}`);

function strictlyAscending(a: readonly string[]): boolean {
  for (let i = 1; i < a.length; i++) if (!(a[i - 1] < a[i])) return false;
  return true;
}

function extractJson(input: PipelineInput, text: string): ExtractedRecord[] {
  const v = parseJson(input, text, 1);
  const list = Array.isArray(v) ? v : isPlainObject(v) && Array.isArray(v.entities) && Object.keys(v).length === 1 ? v.entities : undefined;
  if (list === undefined) return [recordFromObject(input, v, 'record', undefined)];
  return list.map((o, i) => recordFromObject(input, o, `record [${i}]`, undefined));
}

function extractNdjson(input: PipelineInput, text: string): ExtractedRecord[] {
  const out: ExtractedRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    out.push(recordFromObject(input, parseJson(input, line, i + 1), `line ${i + 1}`, i + 1));
  });
  return out;
}

const FRONT_KEY = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/**
 * A strict front-matter scalar: `"json string"`, `'single'` (`''` escapes a quote), `true`,
 * `false`, `null`, a JSON-syntax number, or else the trimmed plain text. No lists, no maps, no
 * YAML type guessing (`yes`, `on`, dates and `0x10` stay strings).
 */
function frontValue(raw: string): AttributeValue | undefined {
  const v = raw.trim();
  if (v.startsWith('"')) {
    try {
      const s = JSON.parse(v);
      return typeof s === 'string' ? s : undefined;
    } catch {
      return undefined;
    }
  }
  if (v.startsWith("'")) {
    if (v.length < 2 || !v.endsWith("'")) return undefined;
    const inner = v.slice(1, -1);
    if (/'(?!')/.test(inner.replace(/''/g, ''))) return undefined;
    return inner.replace(/''/g, "'");
  }
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v === 'null' || v === '~') return null;
  if (NUMBER.test(v)) {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  if (v.startsWith('[') || v.startsWith('{') || v.startsWith('|') || v.startsWith('>') || v.startsWith('&') || v.startsWith('*') || v.startsWith('!')) return undefined;
  return v;
}

/**
 * Markdown with front matter: line 1 is `---`, then `key: value` lines (blank lines and `#`
 * comments allowed), then a `---` line; the rest (trimmed) is the text. `id` is required; `type`
 * and `title` are strings; every other key is an attribute. One document = one record.
 */
function extractMarkdown(input: PipelineInput, text: string): ExtractedRecord[] {
  const lines = text.split('\n');
  if (lines[0].trimEnd() !== '---') throw parseFailed(input, 1, 'front matter must start with a "---" line (it carries the required "id")');
  const end = lines.findIndex((l, i) => i > 0 && l.trimEnd() === '---');
  if (end < 0) throw parseFailed(input, lines.length, 'front matter is not closed by a "---" line');
  const fields: Record<string, AttributeValue> = {};
  for (let i = 1; i < end; i++) {
    const line = lines[i];
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const m = /^([^:\s][^:]*?)\s*:(.*)$/.exec(line);
    if (!m || line.startsWith(' ') || line.startsWith('\t')) throw parseFailed(input, i + 1, `front matter line is not "key: scalar": ${JSON.stringify(line.slice(0, 80))}`);
    const [, key, raw] = m;
    if (!FRONT_KEY.test(key)) throw parseFailed(input, i + 1, `front matter key ${JSON.stringify(key.slice(0, 80))} must match ${FRONT_KEY.source}`);
    if (Object.prototype.hasOwnProperty.call(fields, key)) throw parseFailed(input, i + 1, `front matter key "${key}" appears twice`);
    if (key === 'text' || key === 'attributes') throw parseFailed(input, i + 1, `front matter key "${key}" is reserved (the body is the text)`);
    const value = frontValue(raw);
    if (value === undefined) throw parseFailed(input, i + 1, `front matter value of "${key}" is not a scalar (quoted string, number, true/false/null or plain text)`);
    fields[key] = value;
  }
  const id = fields.id;
  if (typeof id !== 'string') throw parseFailed(input, 1, 'front matter must give "id" as a string');
  for (const k of ['type', 'title'] as const) {
    if (fields[k] !== undefined && typeof fields[k] !== 'string') throw parseFailed(input, 1, `front matter "${k}" must be a string`);
  }
  const { id: _id, type, title, ...attributes } = fields;
  return [{ id, type: (type as string | undefined) ?? '', title: (title as string | undefined) ?? '', text: lines.slice(end + 1).join('\n').trim(), attributes, source: input.digest, location: 'front matter' }];
}

/**
 * Plain text: one record. id = `doc-` + the first 16 hex digits of the snapshot digest (stable for
 * the same bytes), type `document`, title = the first non-blank line (trimmed), text = the whole
 * content trimmed, no attributes.
 */
function extractPlain(input: PipelineInput, text: string): ExtractedRecord[] {
  const title = text.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  return [{ id: `doc-${digestHex(input.digest).slice(0, 16)}`, type: PLAIN_TEXT_TYPE, title, text: text.trim(), attributes: {}, source: input.digest, location: 'document' }];
}

/**
 * Stage 1 — extract: turns one snapshot into records according to its media type.
 * Throws EXTRACT_UNSUPPORTED_MEDIA for an unknown media type or charset, EXTRACT_PARSE_FAILED
 * (naming the input digest and, where it applies, the line) for bytes that do not parse.
 */
export function extractInput(input: PipelineInput): ExtractedRecord[] {
  const media = normaliseMediaType(input.mediaType);
  if (media === undefined) {
    throw new KoaRefusal('EXTRACT_UNSUPPORTED_MEDIA', `snapshot ${input.digest}: media type ${JSON.stringify(input.mediaType.slice(0, 128))} is not one of ${SUPPORTED_MEDIA_TYPES.join(', ')} (charset utf-8)`, { digest: input.digest, mediaType: input.mediaType.slice(0, 128) });
  }
  const text = decodeText(input);
  switch (media) {
    case 'application/json':
      return extractJson(input, text);
    case 'application/x-ndjson':
      return extractNdjson(input, text);
    case 'text/markdown':
      return extractMarkdown(input, text);
    case 'text/plain':
      return extractPlain(input, text);
    default: {
      const _exhaustive: never = media;
      return _exhaustive;
    }
  }
}
