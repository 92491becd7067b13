import { createHash } from 'node:crypto';

/** Largest pack kept (bytes); larger ones are always streamed from `koa-packs`. */
export const RECENT_PACK_MAX_BYTES = 8 * 1024 * 1024;
/** Bytes kept in total (least recently used first out). */
export const RECENT_PACKS_TOTAL_BYTES = 32 * 1024 * 1024;

/**
 * The packs this process just read out of `koa-packs` to verify a release, kept in memory so the
 * consumers' downloads that follow the notice are served without reading the object store again.
 *
 * Content-addressed and tenant-scoped like the store (key `<tenant>/<digest>`), and only bytes
 * whose sha256 IS the digest get in ({@link put} hashes what it is given when asked to): a hit
 * serves exactly what the store holds under that name. Bounded per pack and in total.
 */
export class RecentPacks {
  private readonly packs = new Map<string, Uint8Array>();
  private total = 0;

  constructor(
    private readonly maxPackBytes = RECENT_PACK_MAX_BYTES,
    private readonly maxTotalBytes = RECENT_PACKS_TOTAL_BYTES,
  ) {}

  /** Keeps `bytes` as the pack `digest` of `tenant` if they hash to it and fit the bounds; true if kept. */
  put(tenant: string, digest: string, bytes: Uint8Array, alreadyHashed?: string): boolean {
    if (bytes.byteLength > this.maxPackBytes || bytes.byteLength > this.maxTotalBytes) return false;
    const actual = alreadyHashed ?? `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest) return false;
    const key = `${tenant}/${digest}`;
    this.drop(key);
    this.packs.set(key, bytes);
    this.total += bytes.byteLength;
    for (const [k] of this.packs) {
      if (this.total <= this.maxTotalBytes) break;
      this.drop(k);
    }
    return true;
  }

  /** The bytes of `digest` for `tenant`, if kept. */
  get(tenant: string, digest: string): Uint8Array | undefined {
    const key = `${tenant}/${digest}`;
    const bytes = this.packs.get(key);
    if (bytes) {
      this.packs.delete(key);
      this.packs.set(key, bytes);
    }
    return bytes;
  }

  private drop(key: string): void {
    const old = this.packs.get(key);
    if (!old) return;
    this.packs.delete(key);
    this.total -= old.byteLength;
  }
}
