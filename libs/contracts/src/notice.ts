import { z } from 'zod';
import { DigestSchema, Env, Token } from './schema';

/**
 * Claims of a signed release notice (compact JWS, `typ: koa-release+jwt`). See docs/release-notice.md.
 * `exp` and `iat` are NumericDate seconds (RFC 7519); `version` strictly increases per channel.
 */
export const ReleaseNoticeClaims = z
  .object({
    iss: z.literal('koa:konnaxion-release'),
    tenant: Token,
    env: Env,
    channel: Token,
    version: z.number().int().positive(),
    releaseId: Token,
    caseId: Token,
    pack: z.object({ digest: DigestSchema, size: z.number().int().positive() }),
    provenanceDigest: DigestSchema,
    evidenceDigest: DigestSchema,
    iat: z.number().int().nonnegative(),
    exp: z.number().int().positive(),
  })
  .strict();
export type ReleaseNoticeClaims = z.output<typeof ReleaseNoticeClaims>;

export const NOTICE_TYP = 'koa-release+jwt';
