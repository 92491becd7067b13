import { z } from 'zod';
import { DIGEST_PATTERN, type Digest } from './digest';
import { ENV_PATTERN, TOKEN_PATTERN } from './tokens';

/** Reusable field schemas. One schema library across the repo: zod 4. */
export const Token = z.string().regex(TOKEN_PATTERN, 'must match [A-Za-z0-9_-]{1,64}');
export const Env = z.string().regex(ENV_PATTERN, 'must match [a-z][a-z0-9]{0,15}');
export const DigestSchema = z
  .string()
  .regex(DIGEST_PATTERN, 'must be sha256:<64 lower-case hex>')
  .transform((s) => s as Digest);
export const IsoTime = z.iso.datetime({ offset: true });
/** `user:<id>`, `service:<name>`, `schedule:<id>`, `webhook:<source>`, `consumer:<id>` */
export const Actor = z.string().regex(/^(user|service|schedule|webhook|consumer):[A-Za-z0-9_.@-]{1,128}$/, 'must be <kind>:<id>');
export const Code = z.string().regex(/^[A-Z][A-Z0-9_]{2,63}$/);
export const ShortText = z.string().max(1024);
export const SERVICES = ['ingest-gateway', 'orgo-control', 'pipeline-worker', 'konnaxion-release', 'audit-ledger', 'runtime'] as const;
export type ServiceName = (typeof SERVICES)[number];
