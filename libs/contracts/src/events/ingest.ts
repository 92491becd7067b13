import { z } from 'zod';
import { Code, DigestSchema, IsoTime, ShortText, Token } from '../schema';
import { defineEvent } from './define';

export const Provenance = z.object({
  adapter: z.object({ name: z.string().min(1).max(64), version: z.string().min(1).max(32) }),
  /** opaque reference to where the bytes came from (URL, file name, message id, ticket id) */
  sourceRef: ShortText,
  /** when ingest-gateway captured the bytes */
  capturedAt: IsoTime,
  /** validators the source gave (ETag, Last-Modified, ...) */
  validators: z.record(z.string().max(64), z.string().max(256)).optional(),
});

export const SnapshotCaptured = defineEvent({
  type: 'io.koa.ingest.snapshot.captured.v1',
  aggregate: 'snapshot',
  producer: 'ingest-gateway',
  summary: 'Bytes were captured, hashed and stored once in the snapshot store. Aggregate id: the digest hex.',
  data: z.object({
    digest: DigestSchema,
    size: z.number().int().positive(),
    mediaType: z.string().min(1).max(128),
    source: Token,
    /** object-store entry name in the snapshots bucket: `<tenant>/<digest hex>` (at most 64 + 1 + 64) */
    objectName: z.string().min(1).max(129),
    provenance: Provenance,
  }),
});

export const SnapshotRejected = defineEvent({
  type: 'io.koa.ingest.snapshot.rejected.v1',
  aggregate: 'ingest',
  producer: 'ingest-gateway',
  summary: 'An inbound input was refused; nothing was stored. Aggregate id: the inbound attempt id.',
  data: z.object({
    code: Code,
    message: ShortText,
    source: z.string().max(128),
    sourceRef: ShortText.optional(),
    size: z.number().int().nonnegative().optional(),
  }),
});

export const SnapshotSetSealed = defineEvent({
  type: 'io.koa.ingest.snapshotset.sealed.v1',
  aggregate: 'snapshotset',
  producer: 'ingest-gateway',
  summary: 'A set of snapshots was pinned for a build: sorted unique digests with a root digest. Aggregate id: the root hex.',
  data: z.object({
    root: DigestSchema,
    digests: z.array(DigestSchema).min(1).max(10_000),
    label: ShortText.optional(),
  }),
});
