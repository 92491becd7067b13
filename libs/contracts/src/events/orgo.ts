import { z } from 'zod';
import { Actor, Code, DigestSchema, Env, IsoTime, ShortText, Token } from '../schema';
import { defineEvent } from './define';

export const TriggerKind = z.enum(['operator', 'schedule', 'webhook', 'incident', 'release']);

export const Trigger = z.object({
  kind: TriggerKind,
  idempotencyKey: z.string().min(1).max(128),
  requestedBy: Actor,
  reason: z.string().min(1).max(1024),
  receivedAt: IsoTime,
  /** from where: HTTP remote address / user agent, NATS subject, schedule id */
  origin: z.object({ via: z.enum(['http', 'nats', 'schedule']), address: z.string().max(128).optional(), userAgent: z.string().max(256).optional() }),
});

export const BuildAndReleaseIntent = z.object({
  kind: z.literal('build-and-release'),
  snapshotSetRoot: DigestSchema,
  digests: z.array(DigestSchema).min(1).max(10_000),
  env: Env,
  channel: Token,
});

export const CaseOpened = defineEvent({
  type: 'io.koa.orgo.case.opened.v1',
  aggregate: 'case',
  producer: 'orgo-control',
  summary: 'A trigger opened a Case: who, why, when, from where, and what it asks for.',
  data: z.object({ caseId: Token, trigger: Trigger, intent: BuildAndReleaseIntent }),
});

export const BuildTaskParams = z.object({
  kind: z.literal('build'),
  snapshotSetRoot: DigestSchema,
  digests: z.array(DigestSchema).min(1).max(10_000),
});
export const ReleaseTaskParams = z.object({
  kind: z.literal('release'),
  buildId: Token,
  env: Env,
  channel: Token,
  pack: z.object({ digest: DigestSchema, size: z.number().int().positive() }),
  evidenceDigest: DigestSchema,
  provenanceDigest: DigestSchema,
});

export const TaskRequested = defineEvent({
  type: 'io.koa.orgo.task.requested.v1',
  aggregate: 'case',
  producer: 'orgo-control',
  summary: 'The Case requests a Task (build or release) from a worker service.',
  data: z.object({ caseId: Token, taskId: Token, params: z.discriminatedUnion('kind', [BuildTaskParams, ReleaseTaskParams]) }),
});

export const TaskCompleted = defineEvent({
  type: 'io.koa.orgo.task.completed.v1',
  aggregate: 'case',
  producer: 'orgo-control',
  summary: 'The Case recorded the outcome of one of its Tasks.',
  data: z.object({
    caseId: Token,
    taskId: Token,
    kind: z.enum(['build', 'release']),
    outcome: z.enum(['succeeded', 'failed']),
    code: Code.optional(),
    message: ShortText.optional(),
    /** the build id or release id that carried the task out */
    ref: Token.optional(),
  }),
});

export const CaseClosed = defineEvent({
  type: 'io.koa.orgo.case.closed.v1',
  aggregate: 'case',
  producer: 'orgo-control',
  summary: 'The Case ended: succeeded, or failed with the refusal code that ended it.',
  data: z.object({ caseId: Token, outcome: z.enum(['succeeded', 'failed']), code: Code.optional(), message: ShortText.optional() }),
});
