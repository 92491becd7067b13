import { createHash, type Hash } from 'node:crypto';
import { KoaRefusal, type Digest } from '@koa/contracts';

/** Default bound on one snapshot's size: 16 MiB (`MAX_INGEST_BYTES` overrides it per deployment). */
export const DEFAULT_MAX_INGEST_BYTES = 16 * 1024 * 1024;

/**
 * The media types ingest-gateway captures (the essence, lower-case; parameters are dropped and
 * text is read as UTF-8 downstream). Anything else is refused INGEST_MALFORMED: ingest never
 * guesses what bytes are.
 */
export const INGEST_MEDIA_TYPES = ['application/json', 'application/x-ndjson', 'text/markdown', 'text/plain', 'application/octet-stream'] as const;
export type IngestMediaType = (typeof INGEST_MEDIA_TYPES)[number];

/**
 * Normalises a Content-Type / mediaType value to its allow-listed essence
 * (`Text/Plain; charset=utf-8` ⇒ `text/plain`). `field` names where the value came from, for the
 * refusal message. Refuses INGEST_MALFORMED when absent or not allow-listed.
 */
export function normalizeMediaType(raw: unknown, field = 'Content-Type'): IngestMediaType {
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new KoaRefusal('INGEST_MALFORMED', `${field} is required (one of ${INGEST_MEDIA_TYPES.join(', ')})`, { field });
  }
  const essence = raw.split(';')[0].trim().toLowerCase();
  if (!(INGEST_MEDIA_TYPES as readonly string[]).includes(essence)) {
    throw new KoaRefusal('INGEST_MALFORMED', `${field} ${JSON.stringify(raw.slice(0, 128))} is not an accepted media type (one of ${INGEST_MEDIA_TYPES.join(', ')})`, { field, mediaType: raw.slice(0, 128) });
  }
  return essence as IngestMediaType;
}

/** Validates a configured size bound (a positive safe integer). */
export function assertMaxBytes(maxBytes: number): number {
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new KoaRefusal('CONFIG_INVALID', `MAX_INGEST_BYTES must be a positive integer, got ${maxBytes}`, { field: 'MAX_INGEST_BYTES' });
  return maxBytes;
}

/**
 * Hashes content while it streams in and enforces the size bound as it goes: `update()` throws
 * INGEST_TOO_LARGE as soon as the running size passes `maxBytes` (so the caller stops reading and
 * stores nothing), `finish()` throws INGEST_EMPTY for zero bytes and otherwise returns the digest.
 */
export class ContentMeter {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private done = false;

  constructor(readonly maxBytes: number) {
    assertMaxBytes(maxBytes);
  }

  /** bytes seen so far */
  get size(): number {
    return this.bytes;
  }

  update(chunk: Uint8Array): void {
    if (this.done) throw new Error('ContentMeter: update after finish');
    this.bytes += chunk.byteLength;
    if (this.bytes > this.maxBytes) {
      throw new KoaRefusal('INGEST_TOO_LARGE', `content exceeds the maximum of ${this.maxBytes} bytes`, { maxBytes: this.maxBytes, size: this.bytes });
    }
    this.hash.update(chunk);
  }

  finish(): { digest: Digest; size: number } {
    if (this.done) throw new Error('ContentMeter: finish twice');
    this.done = true;
    if (this.bytes === 0) throw new KoaRefusal('INGEST_EMPTY', 'content has zero bytes', { size: 0 });
    return { digest: `sha256:${this.hash.digest('hex')}`, size: this.bytes };
  }
}

/** Size policy and digest for content already in memory (same refusals as {@link ContentMeter}). */
export function measureContent(bytes: Uint8Array, maxBytes: number): { digest: Digest; size: number } {
  const meter = new ContentMeter(maxBytes);
  meter.update(bytes);
  return meter.finish();
}
