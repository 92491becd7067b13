import { z } from 'zod';
import { ENV_PATTERN } from '@koa/contracts';
import { baseConfigSchema } from '@koa/platform/service';

const csv = (what: string, item: z.ZodString) =>
  z
    .string()
    .transform((s) => s.split(',').map((p) => p.trim()).filter((p) => p.length > 0))
    .pipe(z.array(item).min(1, `must list at least one ${what}`));

/**
 * Builder ids trusted by default: pipeline-worker's default `PIPELINE_BUILDER_ID`
 * (`https://koa.dev/builders/pipeline-worker`), the one builder id pipeline-worker writes by default.
 * Set `TRUSTED_BUILDERS` to exactly the builders a deployment runs.
 */
export const DEFAULT_TRUSTED_BUILDERS = ['https://koa.dev/builders/pipeline-worker'] as const;

/**
 * Configuration of konnaxion-release: the base service variables plus
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `KEYS_DIR` | directory of the per-environment development keyrings (`<dir>/<env>/`) | `./.koa/keys` |
 * | `ENVIRONMENTS` | comma-separated environments this service releases to (each `[a-z][a-z0-9]{0,15}`) | `dev,staging,prod` |
 * | `TRUSTED_BUILDERS` | comma-separated builder ids whose build provenance is trusted | `https://koa.dev/builders/pipeline-worker` |
 * | `RELEASE_NOTICE_TTL_SECONDS` | lifetime of a signed release notice (`exp` = `iat` + this) | `2592000` (30 days) |
 * | `PACK_DOWNLOAD_MAX_BYTES` | largest pack the service hashes or serves | `268435456` (256 MiB) |
 */
export const RELEASE_CONFIG_SCHEMA = baseConfigSchema.extend({
  KEYS_DIR: z.string().min(1).default('./.koa/keys'),
  ENVIRONMENTS: csv('environment', z.string().regex(ENV_PATTERN, 'each environment must match [a-z][a-z0-9]{0,15}')).default(['dev', 'staging', 'prod']),
  TRUSTED_BUILDERS: csv('builder id', z.string().min(1).max(256)).default([...DEFAULT_TRUSTED_BUILDERS]),
  RELEASE_NOTICE_TTL_SECONDS: z.coerce.number().int('must be an integer number of seconds').min(60, 'must be at least 60 seconds').max(366 * 86_400, 'must be at most 366 days').default(30 * 86_400),
  PACK_DOWNLOAD_MAX_BYTES: z.coerce.number().int().positive().default(256 * 1024 * 1024),
});

/** The validated configuration of konnaxion-release (what `SERVICE_CONFIG` holds for it). */
export type ReleaseConfig = z.output<typeof RELEASE_CONFIG_SCHEMA>;
