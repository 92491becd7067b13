import type { PackEntity } from './schema';
import { MAX_TERM_LENGTH, MIN_TERM_LENGTH, tokenize } from './terms';

/** The in-memory search index of a pack, built in one tokenising pass over the entities. */
export interface SearchIndex {
  /**
   * term ⇒ [from, to): its postings are `entities[from..to)` — positions in the id-sorted entity
   * list, ascending (so also by id) — with `weights[from..to)`: 3 × occurrences in the title +
   * 1 × occurrences in id, type, text and string attributes (the §8 score of that term)
   */
  readonly postings: ReadonlyMap<string, readonly [number, number]>;
  readonly entities: Int32Array;
  readonly weights: Int32Array;
}

/**
 * Tokenises every entity once (docs/pack-format.md §5) and returns the index — per term, the
 * entities containing it (= `buildTermIndex`, the plain reference) — with precomputed score
 * weights (§8), so a query costs O(postings of its terms), not a re-tokenisation of the matching
 * entities.
 *
 * `entities` must be sorted by id, strictly (encodePack and decodePack guarantee it).
 */
export function buildSearchIndex(entities: readonly PackEntity[]): SearchIndex {
  const table = new TermTable();
  // every (term, entity, weight) once, in entity order: three parallel growable columns
  let cap = 1024;
  let colTerm: Int32Array = new Int32Array(cap);
  let colPos: Int32Array = new Int32Array(cap);
  let colW: Int32Array = new Int32Array(cap);
  let rows = 0;
  for (let pos = 0; pos < entities.length; pos++) {
    const e = entities[pos];
    table.scan(e.id, 1);
    table.scan(e.type, 1);
    table.scan(e.text, 1);
    const attrs = e.attributes;
    for (const k in attrs) {
      const v = attrs[k];
      if (typeof v === 'string') table.scan(v, 1);
    }
    table.scan(e.title, 3);
    const { touched, counts } = table;
    if (rows + touched.length > cap) {
      while (rows + touched.length > cap) cap *= 2;
      const grow = (a: Int32Array): Int32Array => {
        const b = new Int32Array(cap);
        b.set(a.subarray(0, rows));
        return b;
      };
      colTerm = grow(colTerm);
      colPos = grow(colPos);
      colW = grow(colW);
    }
    for (let i = 0; i < touched.length; i++) {
      const id = touched[i];
      colTerm[rows] = id;
      colPos[rows] = pos;
      colW[rows] = counts[id];
      rows++;
      counts[id] = 0;
    }
    touched.length = 0;
  }
  const terms = table.terms;
  // counting sort of the rows by term (stable: positions stay ascending per term)
  const perTerm = new Int32Array(terms.length);
  for (let r = 0; r < rows; r++) perTerm[colTerm[r]]++;
  const start = new Int32Array(terms.length);
  const postings = new Map<string, readonly [number, number]>();
  for (let id = 0, at = 0; id < terms.length; id++) {
    start[id] = at;
    postings.set(terms[id], [at, at + perTerm[id]]);
    at += perTerm[id];
  }
  const ents = new Int32Array(rows);
  const ws = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const at = start[colTerm[r]]++;
    ents[at] = colPos[r];
    ws[at] = colW[r];
  }
  return { postings, entities: ents, weights: ws };
}

/**
 * Interns terms while scanning (the rules of `tokenize`, docs/pack-format.md §5.1): a term is
 * hashed (FNV-1a over its folded code units) as it is scanned and looked up in an open-addressing
 * table by comparing code units in place, so a term string is created only the first time it is
 * seen. `scan` adds `weight` to the count of each term occurrence (`counts[id]`, ids with a
 * non-zero count listed once in `touched`); the caller collects and resets them per entity.
 */
class TermTable {
  readonly terms: string[] = [];
  counts = new Int32Array(1024);
  readonly touched: number[] = [];
  /** per slot: term id + 1 (0 = empty) and that term's hash */
  private slots = new Int32Array(4096);
  private slotHash = new Int32Array(4096);
  private mask = 4095;

  scan(text: string, weight: number): void {
    const n = text.length;
    let start = -1;
    let upper = false;
    let h = 0;
    for (let i = 0; i < n; i++) {
      let c = text.charCodeAt(i);
      if (c >= 0x41 && c <= 0x5a) {
        c += 0x20;
        upper = true;
      }
      if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)) {
        if (start < 0) {
          start = i;
          h = 0x811c9dc5;
        }
        h = Math.imul(h ^ c, 0x01000193);
      } else if (start >= 0) {
        this.term(text, start, i, h, upper, weight);
        start = -1;
        upper = false;
      }
    }
    if (start >= 0) this.term(text, start, n, h, upper, weight);
  }

  private term(text: string, start: number, end: number, h: number, upper: boolean, weight: number): void {
    const len = end - start;
    if (len < MIN_TERM_LENGTH || len > MAX_TERM_LENGTH) return;
    let slot = h & this.mask;
    let id = -1;
    for (;;) {
      const v = this.slots[slot];
      if (v === 0) break;
      if (this.slotHash[slot] === h && sameFolded(this.terms[v - 1], text, start, end)) {
        id = v - 1;
        break;
      }
      slot = (slot + 1) & this.mask;
    }
    if (id < 0) id = this.add(text, start, end, h, upper, slot);
    if (this.counts[id] === 0) this.touched.push(id);
    this.counts[id] += weight;
  }

  private add(text: string, start: number, end: number, h: number, upper: boolean, slot: number): number {
    const id = this.terms.length;
    const t = text.slice(start, end);
    this.terms.push(upper ? t.toLowerCase() : t);
    this.slots[slot] = id + 1;
    this.slotHash[slot] = h;
    if (this.terms.length * 2 > this.slots.length) this.grow();
    if (id >= this.counts.length) {
      const bigger = new Int32Array(this.counts.length * 2);
      bigger.set(this.counts);
      this.counts = bigger;
    }
    return id;
  }

  private grow(): void {
    const oldSlots = this.slots;
    const oldHash = this.slotHash;
    this.slots = new Int32Array(oldSlots.length * 2);
    this.slotHash = new Int32Array(oldSlots.length * 2);
    this.mask = this.slots.length - 1;
    for (let k = 0; k < oldSlots.length; k++) {
      if (oldSlots[k] === 0) continue;
      let slot = oldHash[k] & this.mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = oldSlots[k];
      this.slotHash[slot] = oldHash[k];
    }
  }
}

/** `term` equals `text[start..end)` after ASCII folding (the term holds only [a-z0-9]). */
function sameFolded(term: string, text: string, start: number, end: number): boolean {
  if (term.length !== end - start) return false;
  for (let i = 0; i < term.length; i++) {
    let c = text.charCodeAt(start + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== term.charCodeAt(i)) return false;
  }
  return true;
}

/** first index in `a[from..to)` whose value is ≥ x (a ascending there), or `to` */
function lowerBound(a: Int32Array, from: number, to: number, x: number): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * AND search over the index (docs/pack-format.md §8): intersects the postings of the distinct query
 * terms (smallest list first), sums their weights, returns the best `limit` by score descending then
 * id ascending (= position ascending). Cost: O(Σ postings of the query terms + matches · log limit).
 */
export function searchIndex(index: SearchIndex, entities: readonly PackEntity[], text: string, limit: number): PackEntity[] {
  const query = [...new Set(tokenize(text))];
  if (query.length === 0) return [];
  const ranges: Array<readonly [number, number]> = [];
  for (const q of query) {
    const r = index.postings.get(q);
    if (r === undefined) return [];
    ranges.push(r);
  }
  ranges.sort((a, b) => a[1] - a[0] - (b[1] - b[0]));
  const { entities: E, weights: W } = index;
  const cand = E.slice(ranges[0][0], ranges[0][1]);
  const score = Float64Array.from(W.subarray(ranges[0][0], ranges[0][1]));
  let m = cand.length;
  for (let k = 1; k < ranges.length && m > 0; k++) {
    const [from, to] = ranges[k];
    let out = 0;
    let j = from;
    const gallop = m * 16 < to - from;
    for (let i = 0; i < m && j < to; i++) {
      const p = cand[i];
      if (gallop) j = lowerBound(E, j, to, p);
      else while (j < to && E[j] < p) j++;
      if (j < to && E[j] === p) {
        cand[out] = p;
        score[out] = score[i] + W[j];
        out++;
        j++;
      }
    }
    m = out;
  }
  if (m === 0) return [];
  // best-first buffer of at most `limit` (position, score); candidates come in ascending position,
  // so an equal score never displaces a kept one (id ascending among ties)
  const topPos: number[] = [];
  const topScore: number[] = [];
  for (let i = 0; i < m; i++) {
    const s = score[i];
    if (topPos.length === limit && s <= topScore[limit - 1]) continue;
    let lo = 0;
    let hi = topPos.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (topScore[mid] >= s) lo = mid + 1;
      else hi = mid;
    }
    topPos.splice(lo, 0, cand[i]);
    topScore.splice(lo, 0, s);
    if (topPos.length > limit) {
      topPos.pop();
      topScore.pop();
    }
  }
  return topPos.map((p) => entities[p]);
}
