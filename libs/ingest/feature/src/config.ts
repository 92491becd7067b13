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
 * | `INGEST_INBOUND_CONCURRENCY` | inbound NATS messages (`koa.ingest.>`) captured at the same time, each lane in its own inbox transaction (1 ⇒ one after another) | 8 |
 */
/**
 * Inbound messages pulled per request by `ingest-gateway-inbound`. A batch is split into
 * `INGEST_INBOUND_CONCURRENCY` lanes and the next batch starts when its slowest lane is done, so
 * a few messages per lane smooth that out (measured: 32 ≈ 15 % more documents/s than 16 with 8
 * lanes); ack deadlines are extended while the batch makes progress.
 */
export const INBOUND_BATCH = 32;
/** Largest `INGEST_INBOUND_CONCURRENCY`: each lane holds a pooled database connection (the pool has 10). */
export const MAX_INBOUND_CONCURRENCY = 16;
/**
 * Default inbound captures in flight: each lane holds one pooled database connection (the inbox
 * transaction) while it captures, and the pool has 10; 8 leaves room for the snapshot projection
 * and HTTP reads.
 */
export const DEFAULT_INBOUND_CONCURRENCY = 8;

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
    .number({ message: 'must be an integer from 1 to 16' })
    .int('must be an integer from 1 to 16')
    .min(1, 'must be an integer from 1 to 16')
    .max(MAX_INBOUND_CONCURRENCY, 'must be an integer from 1 to 16')
    .default(DEFAULT_INBOUND_CONCURRENCY),
});
export type IngestConfig = z.output<typeof INGEST_CONFIG_SCHEMA>;
