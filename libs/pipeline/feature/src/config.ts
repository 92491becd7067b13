import { z } from 'zod';
import { TOKEN_PATTERN } from '@koa/contracts';
import { baseConfigSchema, type ServiceConfig } from '@koa/platform/service';

/** The builder id recorded in build provenance unless `PIPELINE_BUILDER_ID` says otherwise. */
export const DEFAULT_BUILDER_ID = 'https://koa.dev/builders/pipeline-worker';
/** Version of this worker software (recorded in provenance as `builder.version`). */
export const PIPELINE_WORKER_VERSION = '1.0.0';

/**
 * pipeline-worker configuration: the base variables plus
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `PIPELINE_BUILDER_ID` | builder id written into build provenance (what konnaxion-release trusts) | `https://koa.dev/builders/pipeline-worker` |
 * | `PIPELINE_KNOWN_TYPES` | comma-separated allowlist for the `type-known` rule | the domain default (`contact,document,equipment,faq,part,procedure,site`) |
 * | `PIPELINE_MAX_INPUT_BYTES` | upper bound on the total size of one build's snapshots | `67108864` (64 MiB) |
 */
export const PIPELINE_CONFIG_SCHEMA = baseConfigSchema.extend({
  PIPELINE_BUILDER_ID: z.string().min(1).max(256).default(DEFAULT_BUILDER_ID),
  PIPELINE_KNOWN_TYPES: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.split(',').map((s) => s.trim())))
    .refine((v) => v === undefined || v.every((t) => TOKEN_PATTERN.test(t)), `must be a comma-separated list of ${TOKEN_PATTERN.source}`),
  PIPELINE_MAX_INPUT_BYTES: z.coerce.number({ message: 'must be a positive integer' }).int().positive().default(64 * 1024 * 1024),
});

export type PipelineConfig = ServiceConfig<z.output<typeof PIPELINE_CONFIG_SCHEMA>>;

/** What {@link PipelineWorker} needs from the configuration. */
export interface PipelineWorkerSettings {
  readonly builderId: string;
  readonly knownTypes?: readonly string[];
  readonly maxInputBytes: number;
}

export const settingsFromConfig = (c: PipelineConfig): PipelineWorkerSettings => ({
  builderId: c.PIPELINE_BUILDER_ID,
  knownTypes: c.PIPELINE_KNOWN_TYPES,
  maxInputBytes: c.PIPELINE_MAX_INPUT_BYTES,
});
