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
  const byId = new Map<string, { first: ExtractedRecord; content: string | undefined; sources: Set<string> }>();
  for (const r of records) {
    const seen = byId.get(r.id);
    if (!seen) {
      byId.set(r.id, { first: r, content: undefined, sources: new Set([r.source]) });
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
    seen.sources.add(r.source);
  }
  return [...byId.values()]
    .map(({ first: r, sources }) => ({ id: r.id, type: r.type, title: r.title, text: r.text, attributes: r.attributes, sources: [...sources].sort(codeUnitCompare) }))
    .sort((a, b) => codeUnitCompare(a.id, b.id));
}
