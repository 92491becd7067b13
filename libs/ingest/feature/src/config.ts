import { z } from 'zod';
import { DEFAULT_MAX_INGEST_BYTES } from '@koa/ingest/domain';
import { baseConfigSchema } from '@koa/platform/service';

/**
 * ingest-gateway configuration: the base variables plus
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `MAX_INGEST_BYTES` | largest snapshot accepted (HTTP upload or NATS message), in bytes | 16777216 (16 MiB) |
 */
export const INGEST_CONFIG_SCHEMA = baseConfigSchema.extend({
  MAX_INGEST_BYTES: z.coerce
    .number({ message: 'must be a positive integer (bytes)' })
    .int('must be a positive integer (bytes)')
    .positive('must be a positive integer (bytes)')
    .max(1024 * 1024 * 1024, 'must be at most 1 GiB')
    .default(DEFAULT_MAX_INGEST_BYTES),
});
export type IngestConfig = z.output<typeof INGEST_CONFIG_SCHEMA>;
