import type { PackEntity } from './schema';
import { MAX_TERM_LENGTH, MIN_TERM_LENGTH, codeUnitCompare, tokenize } from './terms';

/** The entities (by position in the id-sorted list) containing one term, with their score weights. */
export interface TermPostings {
  /** positions in the id-sorted entity list, ascending (so also ascending by id) */
  readonly entities: Int32Array;
  /** per position: 3 × occurrences in the title + 1 × occurrences in id, type, text, string attributes */
  readonly weights: Int32Array;
}

/** The in-memory search index of a pack, built in one tokenising pass over the entities. */
export interface SearchIndex {
  readonly postings: ReadonlyMap<string, TermPostings>;
  /** `index/terms.json` as it must be: canonical JSON of `{ term: [ids…] }` (docs/pack-format.md §5) */
  readonly json: string;
}

/**
 * Tokenises every entity once (docs/pack-format.md §5) and returns both the canonical
 * `index/terms.json` text and per-term postings with precomputed score weights (§8), so a query
 * costs O(postings of its terms), not a re-tokenisation of the matching entities.
 *
 * `entities` must be sorted by id, strictly (encodePack and decodePack guarantee it).
 */
export function buildSearchIndex(entities: readonly PackEntity[]): SearchIndex {
  const table = new TermTable();
  const lists: number[][] = [];
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
    for (let i = 0; i < touched.length; i++) {
      const id = touched[i];
      let l = lists[id];
      if (l === undefined) lists[id] = l = [];
      l.push(pos, counts[id]);
      counts[id] = 0;
    }
    touched.length = 0;
  }
  const quoted = entities.map((e) => JSON.stringify(e.id));
  const order = table.terms.map((_, id) => id).sort((a, b) => codeUnitCompare(table.terms[a], table.terms[b]));
  const chunks: string[] = new Array(order.length);
  const postings = new Map<string, TermPostings>();
  for (let i = 0; i < order.length; i++) {
    const t = table.terms[order[i]];
    const l = lists[order[i]];
    const n = l.length >> 1;
    const ents = new Int32Array(n);
    const ws = new Int32Array(n);
    let s = `${JSON.stringify(t)}:[`;
    for (let j = 0; j < n; j++) {
      ents[j] = l[2 * j];
      ws[j] = l[2 * j + 1];
      s += j === 0 ? quoted[ents[j]] : `,${quoted[ents[j]]}`;
    }
    chunks[i] = `${s}]`;
    postings.set(t, { entities: ents, weights: ws });
  }
  return { postings, json: `{${chunks.join(',')}}` };
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
  private readonly hashesOfId: number[] = [];
  private slots = new Int32Array(4096);
  private mask = 4095;

  scan(text: string, weight: number): void {
    const n = text.length;
    let start = -1;
    let upper = false;
    let h = 0;
    for (let i = 0; i <= n; i++) {
      let c = i < n ? text.charCodeAt(i) : 0x20;
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
        const len = i - start;
        if (len >= MIN_TERM_LENGTH && len <= MAX_TERM_LENGTH) {
          const id = this.intern(text, start, i, h | 0, upper);
          if (this.counts[id] === 0) this.touched.push(id);
          this.counts[id] += weight;
        }
        start = -1;
        upper = false;
      }
    }
  }

  private intern(text: string, start: number, end: number, h: number, upper: boolean): number {
    let slot = h & this.mask;
    for (;;) {
      const v = this.slots[slot];
      if (v === 0) break;
      const id = v - 1;
      if (this.hashesOfId[id] === h && sameFolded(this.terms[id], text, start, end)) return id;
      slot = (slot + 1) & this.mask;
    }
    const id = this.terms.length;
    const t = text.slice(start, end);
    this.terms.push(upper ? t.toLowerCase() : t);
    this.hashesOfId.push(h);
    this.slots[slot] = id + 1;
    if (this.terms.length * 2 > this.slots.length) this.grow();
    if (id >= this.counts.length) {
      const bigger = new Int32Array(this.counts.length * 2);
      bigger.set(this.counts);
      this.counts = bigger;
    }
    return id;
  }

  private grow(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    this.mask = this.slots.length - 1;
    for (let id = 0; id < this.terms.length; id++) {
      let slot = this.hashesOfId[id] & this.mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = id + 1;
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

/** first index in `a[from..)` whose value is ≥ x (a ascending) */
function lowerBound(a: Int32Array, from: number, x: number): number {
  let lo = from;
  let hi = a.length;
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
  const lists: TermPostings[] = [];
  for (const q of query) {
    const p = index.postings.get(q);
    if (p === undefined) return [];
    lists.push(p);
  }
  lists.sort((a, b) => a.entities.length - b.entities.length);
  const cand = Int32Array.from(lists[0].entities);
  const score = Float64Array.from(lists[0].weights);
  let m = cand.length;
  for (let k = 1; k < lists.length && m > 0; k++) {
    const { entities: E, weights: W } = lists[k];
    let out = 0;
    let j = 0;
    const gallop = m * 16 < E.length;
    for (let i = 0; i < m && j < E.length; i++) {
      const p = cand[i];
      if (gallop) j = lowerBound(E, j, p);
      else while (j < E.length && E[j] < p) j++;
      if (j < E.length && E[j] === p) {
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
