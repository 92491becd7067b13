import { z } from 'zod';
import { Env, KoaRefusal, Token } from '@koa/contracts';

/** The example consumer's environment variables (docs/runtime-consumer.md). */
export const ConsumerConfigSchema = z.object({
  /** optional: without it the consumer serves from disk only */
  NATS_URL: z.string().url().optional(),
  /** konnaxion-release base URL for pack downloads */
  RELEASE_URL: z.string().url().optional(),
  TENANT: Token,
  ENV: Env,
  CHANNEL: Token,
  CONSUMER_ID: Token,
  /** the signed trust root of ENV, provided by the operator (pinned; never fetched at runtime) */
  TRUST_ROOT_FILE: z.string().min(1),
  DATA_DIR: z.string().min(1),
  HTTP_PORT: z.coerce.number().int().min(0).max(65_535).default(8090),
  /** bind address; default loopback */
  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  MAX_PACK_BYTES: z.coerce.number().int().positive().default(64 * 1024 * 1024),
});
export type ConsumerConfig = z.output<typeof ConsumerConfigSchema>;

/** Parses the environment; refuses to start (CONFIG_INVALID naming each bad variable) otherwise. */
export function loadConsumerConfig(env: Record<string, string | undefined>): ConsumerConfig {
  const parsed = ConsumerConfigSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')));
  if (!parsed.success) {
    const bad = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new KoaRefusal('CONFIG_INVALID', `example-consumer configuration invalid: ${bad.join('; ')}`, { variables: parsed.error.issues.map((i) => i.path.join('.')) });
  }
  return parsed.data;
}
