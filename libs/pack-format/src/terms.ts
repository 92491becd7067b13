import type { PackEntity } from './schema';

/** Terms shorter than this are dropped. */
export const MIN_TERM_LENGTH = 2;
/** Terms longer than this are dropped (hashes, base64 blobs). */
export const MAX_TERM_LENGTH = 64;

/**
 * The index tokeniser (docs/pack-format.md §5). Deterministic and locale-free, so every builder and
 * every reader on every machine produces the same terms:
 *
 * 1. ASCII fold: `A`–`Z` become `a`–`z`; nothing else changes (no locale, no Unicode case tables).
 * 2. Split on every UTF-16 code unit that is not `a`–`z` or `0`–`9` (so non-ASCII letters are
 *    separators: the v1 index is ASCII-only; such text is stored and returned, not indexed).
 * 3. Drop terms shorter than 2 or longer than 64 characters.
 *
 * Returns the terms in order of appearance, duplicates kept (callers count or dedupe).
 */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  scanTerms(text, (t) => out.push(t));
  return out;
}

/**
 * The tokeniser's scan (same rules as {@link tokenize}) calling `emit` for each term, without
 * building a per-character string: a term is sliced once and lower-cased only if it contains
 * `A`–`Z` (it holds only `[A-Za-z0-9]`, where `toLowerCase` is exactly the ASCII fold).
 */
export function scanTerms(text: string, emit: (term: string) => void): void {
  const n = text.length;
  let start = -1;
  let upper = false;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 0x20;
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)) {
      if (start < 0) start = i;
    } else if (c >= 0x41 && c <= 0x5a) {
      if (start < 0) start = i;
      upper = true;
    } else if (start >= 0) {
      const len = i - start;
      if (len >= MIN_TERM_LENGTH && len <= MAX_TERM_LENGTH) {
        const t = text.slice(start, i);
        emit(upper ? t.toLowerCase() : t);
      }
      start = -1;
      upper = false;
    }
  }
}

/**
 * The texts of an entity that are indexed, in a fixed order: id, type, title, text, then every
 * string attribute value in attribute-key order (numbers, booleans and null are not indexed).
 */
export function indexedTexts(e: PackEntity): string[] {
  const attrs = Object.keys(e.attributes)
    .sort(codeUnitCompare)
    .map((k) => e.attributes[k])
    .filter((v): v is string => typeof v === 'string');
  return [e.id, e.type, e.title, e.text, ...attrs];
}

/** Plain UTF-16 code-unit order (what `Array.prototype.sort` does on strings), never locale order. */
export const codeUnitCompare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The reference term index (docs/pack-format.md §5; derived by readers, not stored in koa-pack/2): every term of every entity ⇒ the sorted unique ids of the entities
 * containing it. Returned as a null-prototype object whose keys are the terms (canonical JSON sorts
 * them); a term such as `constructor` is an ordinary key.
 */
export function buildTermIndex(entities: readonly PackEntity[]): Record<string, string[]> {
  const postings = new Map<string, Set<string>>();
  for (const e of entities) {
    for (const text of indexedTexts(e)) {
      for (const t of tokenize(text)) {
        let ids = postings.get(t);
        if (!ids) postings.set(t, (ids = new Set()));
        ids.add(e.id);
      }
    }
  }
  const index: Record<string, string[]> = Object.create(null);
  for (const t of [...postings.keys()].sort(codeUnitCompare)) index[t] = [...(postings.get(t) as Set<string>)].sort(codeUnitCompare);
  return index;
}

/**
 * Relevance of an entity for a set of query terms (docs/pack-format.md §6): for each query term,
 * 3 × its occurrences in the title + 1 × its occurrences in the id, type, text and string attributes.
 */
export function score(e: PackEntity, queryTerms: readonly string[]): number {
  const title = tokenize(e.title);
  const rest = [e.id, e.type, e.text, ...indexedTexts(e).slice(4)].flatMap(tokenize);
  let s = 0;
  for (const q of queryTerms) {
    for (const t of title) if (t === q) s += 3;
    for (const t of rest) if (t === q) s += 1;
  }
  return s;
}
