import { z } from 'zod';
import { Code, DigestSchema, Env, IsoTime, ShortText, Token } from '../schema';
import { defineEvent } from './define';

export const ReleaseVerified = defineEvent({
  type: 'io.koa.release.release.verified.v1',
  aggregate: 'release',
  producer: 'konnaxion-release',
  summary: 'Every pre-activation check passed (digest, build evidence, provenance, Case request, policy).',
  data: z.object({
    releaseId: Token,
    caseId: Token,
    taskId: Token,
    env: Env,
    channel: Token,
    packDigest: DigestSchema,
    checks: z.array(z.object({ check: z.string().max(64), passed: z.literal(true) })).min(1),
  }),
});

export const ReleaseRefused = defineEvent({
  type: 'io.koa.release.release.refused.v1',
  aggregate: 'release',
  producer: 'konnaxion-release',
  summary: 'A pre-activation check failed; the channel keeps its previous release.',
  data: z.object({
    releaseId: Token,
    caseId: Token,
    taskId: Token,
    env: Env,
    channel: Token,
    packDigest: DigestSchema.optional(),
    code: Code,
    message: ShortText,
  }),
});

export const ReleaseActivated = defineEvent({
  type: 'io.koa.release.release.activated.v1',
  aggregate: 'release',
  producer: 'konnaxion-release',
  summary: 'The release was signed and its channel pointer moved; `notice` is the signed release notice (compact JWS).',
  data: z.object({
    releaseId: Token,
    caseId: Token,
    taskId: Token,
    env: Env,
    channel: Token,
    version: z.number().int().positive(),
    packDigest: DigestSchema,
    packSize: z.number().int().positive(),
    kid: z.string().min(1).max(128),
    expiresAt: IsoTime,
    notice: z.string().min(1).max(16_384),
    previous: z.object({ releaseId: Token, version: z.number().int().positive(), packDigest: DigestSchema }).optional(),
  }),
});

export const ChannelAdvanced = defineEvent({
  type: 'io.koa.release.channel.advanced.v1',
  aggregate: 'channel',
  producer: 'konnaxion-release',
  summary: 'The channel pointer moved to a new release (appended with optimistic concurrency on the channel subject).',
  data: z.object({ env: Env, channel: Token, version: z.number().int().positive(), releaseId: Token, packDigest: DigestSchema }),
});

export const ConsumerActivated = defineEvent({
  type: 'io.koa.runtime.consumer.activated.v1',
  aggregate: 'consumer',
  producer: 'runtime',
  summary: 'A runtime consumer verified a release and switched to its pack (activation receipt).',
  data: z.object({ consumerId: Token, env: Env, channel: Token, releaseId: Token, version: z.number().int().positive(), packDigest: DigestSchema, activatedAt: IsoTime }),
});

export const ConsumerRefused = defineEvent({
  type: 'io.koa.runtime.consumer.refused.v1',
  aggregate: 'consumer',
  producer: 'runtime',
  summary: 'A runtime consumer refused a notice or pack; its current pack stays active.',
  data: z.object({
    consumerId: Token,
    env: Env,
    channel: Token,
    code: Code,
    message: ShortText,
    version: z.number().int().optional(),
    packDigest: DigestSchema.optional(),
    releaseId: Token.optional(),
  }),
});
