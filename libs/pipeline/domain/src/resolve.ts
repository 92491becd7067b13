import { KoaRefusal, canonicalJson } from '@koa/contracts';
import { codeUnitCompare } from '@koa/pack-format';
import type { AttributeValue, ExtractedRecord } from './types';

/** A resolved entity: one per id, with every snapshot digest that defined it. */
export interface ResolvedEntity {
  readonly id: string;
  readonly type: string;
  readonly title: string;
  readonly text: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  /** sorted, unique snapshot digests */
  readonly sources: readonly string[];
}

const contentOf = (r: ExtractedRecord): string => canonicalJson({ type: r.type, title: r.title, text: r.text, attributes: r.attributes });

/**
 * Stage 2 — resolve: merges records by `id` across all inputs.
 *
 * Policy (docs/pipeline.md §3): records with the same id must have IDENTICAL content — type, title,
 * text and attributes compared as canonical JSON (attribute order does not matter, whitespace and
 * case do). Identical ⇒ one entity listing every source digest. Different ⇒ RESOLVE_CONFLICT naming
 * the id and both digests; there is no "last writer wins", because which input is "last" is
 * arbitrary and would make the pack depend on arrival order.
 *
 * Records must be passed in a deterministic order (the pipeline passes inputs sorted by digest and
 * records in document order); the result is sorted by id.
 */
export function resolveRecords(records: readonly ExtractedRecord[]): ResolvedEntity[] {
  // the canonical content is computed only for ids defined more than once (the common case, one
  // record per id, needs no comparison)
  const byId = new Map<string, { first: ExtractedRecord; content: string | undefined; sources: string[] }>();
  for (const r of records) {
    const seen = byId.get(r.id);
    if (!seen) {
      byId.set(r.id, { first: r, content: undefined, sources: [r.source] });
      continue;
    }
    seen.content ??= contentOf(seen.first);
    if (seen.content !== contentOf(r)) {
      const a = seen.first;
      throw new KoaRefusal(
        'RESOLVE_CONFLICT',
        `entity ${JSON.stringify(r.id.slice(0, 80))} is defined differently by ${a.source} (${a.location}) and ${r.source} (${r.location})`,
        { id: r.id.slice(0, 256), digests: [a.source, r.source], locations: [a.location, r.location] },
      );
    }
    if (!seen.sources.includes(r.source)) seen.sources.push(r.source);
  }
  // members in canonical order and attribute names sorted: the pack encoder serialises such an
  // entity as it is (its JSON.stringify is its canonical JSON)
  return [...byId.values()]
    .map(({ first: r, sources }): ResolvedEntity => ({ attributes: sortedAttributes(r.attributes), id: r.id, sources: sources.length > 1 ? sources.sort(codeUnitCompare) : sources, text: r.text, title: r.title, type: r.type }))
    .sort((a, b) => codeUnitCompare(a.id, b.id));
}

/** The same attributes with names in code-unit order (the object itself when they already are). */
function sortedAttributes(a: Readonly<Record<string, AttributeValue>>): Readonly<Record<string, AttributeValue>> {
  const names = Object.keys(a);
  let sorted = true;
  for (let i = 1; i < names.length && sorted; i++) sorted = names[i - 1] < names[i];
  if (sorted) return a;
  const out: Record<string, AttributeValue> = {};
  for (const k of names.sort(codeUnitCompare)) out[k] = a[k];
  return out;
}
