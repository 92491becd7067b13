import { hostname } from 'node:os';
import { z } from 'zod';
import { KoaRefusal } from '@koa/contracts';

/** Log levels accepted by `LOG_LEVEL` (pino's names; `silent` turns logging off). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

const urlWithSchemes = (schemes: readonly string[]) =>
  z.string().superRefine((value, ctx) => {
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `is not a URL (expected ${schemes.map((s) => `${s}//host:port`).join(' or ')})` });
      return;
    }
    if (!schemes.includes(parsed.protocol)) {
      ctx.addIssue({ code: 'custom', message: `must use the scheme ${schemes.join(' or ')} (got "${parsed.protocol}")` });
    } else if (!parsed.hostname) {
      ctx.addIssue({ code: 'custom', message: `has no host` });
    }
  });

/**
 * The configuration every kOA service reads from its environment. Services extend it
 * (`baseConfigSchema.extend({ ... })`) with their own variables; `loadConfig` validates the whole
 * object once at boot and refuses to start on the first problem it finds, naming every bad variable.
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `NATS_URL` | JetStream broker, `nats://` or `tls://` (comma-separate several seed URLs) | required |
 * | `DATABASE_URL` | PostgreSQL, `postgres://` or `postgresql://` | required |
 * | `HTTP_PORT` | HTTP port (health, service API) | per service (8081..8085) |
 * | `HTTP_HOST` | HTTP bind address | `0.0.0.0` |
 * | `LOG_LEVEL` | `fatal`, `error`, `warn`, `info`, `debug`, `trace`, `silent` | `info` |
 * | `SERVICE_INSTANCE` | this replica's name (logs, NATS connection name) | the host name |
 * | `JETSTREAM_REPLICAS` | replication factor of the streams this service ensures (3 in a cluster) | `1` |
 */
export const baseConfigSchema = z.object({
  NATS_URL: z
    .string()
    .superRefine((value, ctx) => {
      for (const part of value.split(',').map((s) => s.trim())) {
        const r = urlWithSchemes(['nats:', 'tls:']).safeParse(part);
        if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
      }
    }),
  DATABASE_URL: urlWithSchemes(['postgres:', 'postgresql:']),
  HTTP_PORT: z.coerce.number({ message: 'must be an integer port number' }).int('must be an integer port number').min(1, 'must be between 1 and 65535').max(65535, 'must be between 1 and 65535').default(8080),
  HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  SERVICE_INSTANCE: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be 1-128 characters of [A-Za-z0-9_.-]')
    .default(() => hostname()),
  JETSTREAM_REPLICAS: z.coerce.number({ message: 'must be an integer from 1 to 5' }).int('must be an integer from 1 to 5').min(1, 'must be an integer from 1 to 5').max(5, 'must be an integer from 1 to 5').default(1),
});

/** The validated base configuration (what `SERVICE_CONFIG` holds, plus a service's own fields). */
export type BaseServiceConfig = z.infer<typeof baseConfigSchema>;

/** Any schema that extends {@link baseConfigSchema}. */
export type ServiceConfigSchema<T extends BaseServiceConfig = BaseServiceConfig> = z.ZodType<T, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Validates `env` against `schema`. Empty strings count as unset. `defaults` fill variables the
 * environment leaves unset (the service's default `HTTP_PORT`, for instance).
 *
 * @throws KoaRefusal `CONFIG_INVALID` whose message names every missing or malformed variable and
 *   why, e.g. `configuration refused: NATS_URL is missing (required); DATABASE_URL must use the
 *   scheme postgres: or postgresql: (got "mysql:")`. Values are never echoed (they may hold
 *   secrets); `details.variables` lists the variable names.
 */
export function loadConfig<T extends BaseServiceConfig>(
  schema: ServiceConfigSchema<T>,
  env: Readonly<Record<string, string | undefined>> = process.env,
  defaults: Readonly<Record<string, string>> = {},
): T {
  const input: Record<string, string | undefined> = { ...defaults };
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') input[key] = value;
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = new Map<string, string[]>();
  for (const issue of result.error.issues) {
    const variable = issue.path.length > 0 ? issue.path.map(String).join('.') : '(environment)';
    const reason = input[variable] === undefined ? 'is missing (required)' : issue.message.startsWith('is ') || issue.message.startsWith('must') || issue.message.startsWith('has') ? issue.message : `is invalid: ${issue.message}`;
    const list = problems.get(variable) ?? [];
    if (!list.includes(reason)) list.push(reason);
    problems.set(variable, list);
  }
  const text = [...problems].map(([v, reasons]) => `${v} ${reasons.join(' and ')}`).join('; ');
  throw new KoaRefusal('CONFIG_INVALID', `configuration refused: ${text}`, { variables: [...problems.keys()] });
}
