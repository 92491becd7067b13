import { DIGEST_PATTERN, KoaRefusal, snapshotSetRootOf, type Digest } from '@koa/contracts';

/** A sealed snapshot set: what a build consumes. */
export interface SealedSnapshotSet {
  /** `canonicalDigest({ digests })`: sha256 over the RFC 8785 canonical JSON of `{"digests":[...]}` */
  readonly root: Digest;
  /** sorted (code-unit order), de-duplicated */
  readonly digests: readonly Digest[];
}

/** The most digests one set may name (the SnapshotSetSealed schema bound). */
export const MAX_SET_SIZE = 10_000;

/**
 * Seals a snapshot set: validates every digest (REQUEST_INVALID naming it), refuses an empty set
 * (SNAPSHOT_SET_EMPTY) or one over {@link MAX_SET_SIZE}, sorts and de-duplicates, and computes
 * the root:
 *
 * ```
 * root = "sha256:" + hex(sha256(canonicalJson({ digests: sortedUniqueDigests })))
 * ```
 *
 * e.g. for one digest `sha256:ab…` the hashed bytes are `{"digests":["sha256:ab…"]}`. The order in
 * which digests are given and repetitions do not change the root.
 */
export function sealSnapshotSet(digests: unknown): SealedSnapshotSet {
  if (!Array.isArray(digests)) throw new KoaRefusal('REQUEST_INVALID', 'digests must be an array of sha256:<hex> digests', { field: 'digests' });
  if (digests.length === 0) throw new KoaRefusal('SNAPSHOT_SET_EMPTY', 'digests is empty: a snapshot set must name at least one snapshot', { field: 'digests' });
  digests.forEach((d, i) => {
    if (typeof d !== 'string' || !DIGEST_PATTERN.test(d)) {
      throw new KoaRefusal('REQUEST_INVALID', `digests[${i}] ${JSON.stringify(String(d).slice(0, 80))} is not sha256:<64 lower-case hex>`, { field: `digests[${i}]` });
    }
  });
  const unique = [...new Set(digests as Digest[])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (unique.length > MAX_SET_SIZE) throw new KoaRefusal('REQUEST_INVALID', `digests names ${unique.length} snapshots; at most ${MAX_SET_SIZE}`, { field: 'digests' });
  return { root: snapshotSetRootOf(unique), digests: unique };
}
