import { z } from 'zod';
import { DEFAULT_MAX_INGEST_BYTES } from '@koa/ingest/domain';
import { baseConfigSchema } from '@koa/platform/service';

/**
 * ingest-gateway configuration: the base variables plus
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `MAX_INGEST_BYTES` | largest snapshot accepted (HTTP upload or NATS message), in bytes | 16777216 (16 MiB) |
 * | `INGEST_SPOOL_DIR` | directory under which the gateway creates its private spool directory (mode 0700) for large uploads | the OS temp directory (`TMPDIR`, else `/tmp`) |
 * | `INGEST_SPOOL_THRESHOLD_BYTES` | content up to this size stays in memory; larger content is spooled to a file while it is hashed (0 ⇒ always spool) | 1048576 (1 MiB) |
 * | `INGEST_INBOUND_CONCURRENCY` | inbound NATS messages (`koa.ingest.>`) captured at the same time (a pool over each pulled batch; no database connection is held while capturing; 1 ⇒ one after another) | 32 |
 */
/** Largest `INGEST_INBOUND_CONCURRENCY`. */
export const MAX_INBOUND_CONCURRENCY = 64;
/**
 * Default inbound captures in flight. The inbound consumer runs without the inbox (a capture is
 * idempotent by itself), so a capture holds no pooled database connection: the limit is the
 * broker round trips in flight (measured on 2 cores, docs/s: 32 ≈ 64 > 16 > 8; docs/ingest.md §6).
 */
export const DEFAULT_INBOUND_CONCURRENCY = 32;
/**
 * Inbound messages pulled per request by `ingest-gateway-inbound`: twice the concurrency, at
 * least 32. The pool of captures works through a batch and the next batch starts when its last
 * capture is done, so a few messages per slot smooth out the tail; ack deadlines are extended
 * while the batch makes progress.
 */
export const inboundBatch = (concurrency: number): number => Math.max(32, 2 * concurrency);
/** {@link inboundBatch} of the default concurrency. */
export const INBOUND_BATCH = inboundBatch(DEFAULT_INBOUND_CONCURRENCY);
/**
 * Up to this long a batch of the snapshot projection (`ingest-gateway-snapshots`) waits for more
 * SnapshotCaptured events after its first one (`ConsumerSpec.batchWaitMs`), so one inbox
 * transaction and one ack flush serve several; 0 ⇒ none.
 */
export const PROJECTION_BATCH_WAIT_MS = 20;

export const INGEST_CONFIG_SCHEMA = baseConfigSchema.extend({
  MAX_INGEST_BYTES: z.coerce
    .number({ message: 'must be a positive integer (bytes)' })
    .int('must be a positive integer (bytes)')
    .positive('must be a positive integer (bytes)')
    .max(1024 * 1024 * 1024, 'must be at most 1 GiB')
    .default(DEFAULT_MAX_INGEST_BYTES),
  INGEST_SPOOL_DIR: z.string().min(1, 'must be a directory path').optional(),
  INGEST_SPOOL_THRESHOLD_BYTES: z.coerce
    .number({ message: 'must be an integer from 0 to 67108864 (bytes)' })
    .int('must be an integer from 0 to 67108864 (bytes)')
    .min(0, 'must be an integer from 0 to 67108864 (bytes)')
    .max(64 * 1024 * 1024, 'must be an integer from 0 to 67108864 (bytes)')
    .default(1024 * 1024),
  INGEST_INBOUND_CONCURRENCY: z.coerce
    .number({ message: 'must be an integer from 1 to 64' })
    .int('must be an integer from 1 to 64')
    .min(1, 'must be an integer from 1 to 64')
    .max(MAX_INBOUND_CONCURRENCY, 'must be an integer from 1 to 64')
    .default(DEFAULT_INBOUND_CONCURRENCY),
});
export type IngestConfig = z.output<typeof INGEST_CONFIG_SCHEMA>;
