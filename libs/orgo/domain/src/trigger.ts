import { Actor, DigestSchema, Env, KoaRefusal, Token, isToken } from '@koa/contracts';
import { z } from 'zod';
import type { CaseDetails, CaseState, OpenCase } from './case.decider';
import { buildTaskIdFor, caseIdFor, IDEMPOTENCY_KEY_PATTERN, openEventIdBase } from './case.ids';

/** The body of an operator trigger (`POST /v1/tenants/:tenant/cases`). Unknown fields are refused. */
export const OperatorTriggerBody = z
  .object({
    snapshotSetRoot: DigestSchema,
    env: Env,
    channel: Token,
    reason: z.string().trim().min(1).max(1024),
  })
  .strict();
export type OperatorTriggerBody = z.output<typeof OperatorTriggerBody>;

/** An operator trigger as received: body, headers and where it came from. */
export interface OperatorTrigger {
  readonly tenant: string;
  readonly idempotencyKey: string;
  /** `user:<id>` (operators are people) */
  readonly actor: string;
  readonly body: OperatorTriggerBody;
  readonly receivedAt: string;
  readonly origin: { readonly address?: string; readonly userAgent?: string };
  readonly traceparent?: string;
}

const OperatorActor = Actor.refine((a) => a.startsWith('user:'), 'operator triggers need a user:<id> actor');

/**
 * Validates the raw parts of an operator trigger. Refusals: SUBJECT_TOKEN_INVALID (tenant),
 * TRIGGER_INVALID naming the header or body field that is missing or malformed.
 */
export function parseOperatorTrigger(raw: {
  tenant: unknown;
  idempotencyKey: unknown;
  actor: unknown;
  body: unknown;
  receivedAt: string;
  origin: { address?: string; userAgent?: string };
  traceparent?: string;
}): OperatorTrigger {
  if (!isToken('tenant', raw.tenant)) {
    throw new KoaRefusal('SUBJECT_TOKEN_INVALID', `tenant ${JSON.stringify(String(raw.tenant).slice(0, 80))} is invalid: expected [A-Za-z0-9_-]{1,64}`, { token: 'tenant' });
  }
  if (typeof raw.idempotencyKey !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(raw.idempotencyKey)) {
    throw new KoaRefusal('TRIGGER_INVALID', raw.idempotencyKey === undefined ? 'header Idempotency-Key is required' : 'header Idempotency-Key must be 1..128 printable ASCII characters without spaces', { field: 'Idempotency-Key' });
  }
  const actor = OperatorActor.safeParse(raw.actor);
  if (!actor.success) {
    throw new KoaRefusal('TRIGGER_INVALID', raw.actor === undefined ? 'header X-Koa-Actor is required (user:<id>)' : `header X-Koa-Actor ${JSON.stringify(String(raw.actor).slice(0, 80))} must be user:<id>`, { field: 'X-Koa-Actor' });
  }
  const body = OperatorTriggerBody.safeParse(raw.body);
  if (!body.success) {
    const issue = body.error.issues[0];
    const field = issue.path.length ? issue.path.join('.') : issue.code === 'unrecognized_keys' ? (issue as { keys?: string[] }).keys?.join(',') ?? '(body)' : '(body)';
    throw new KoaRefusal('TRIGGER_INVALID', `body field ${field}: ${issue.message}`, { field });
  }
  const address = raw.origin.address?.slice(0, 128);
  const userAgent = raw.origin.userAgent?.slice(0, 256);
  return {
    tenant: raw.tenant,
    idempotencyKey: raw.idempotencyKey,
    actor: actor.data,
    body: body.data,
    receivedAt: raw.receivedAt,
    origin: { ...(address && { address }), ...(userAgent && { userAgent }) },
    ...(raw.traceparent !== undefined && { traceparent: raw.traceparent }),
  };
}

/**
 * The OpenCase command for a validated trigger, given the digests of the sealed snapshot set it
 * names (read from the `snapshotset/<root hex>` aggregate by the caller).
 */
export function openCaseCommand(trigger: OperatorTrigger, digests: readonly string[]): OpenCase {
  const caseId = caseIdFor(trigger.tenant, trigger.idempotencyKey);
  return {
    type: 'OpenCase',
    tenant: trigger.tenant,
    caseId,
    buildTaskId: buildTaskIdFor(caseId),
    meta: {
      eventIdBase: openEventIdBase(caseId),
      time: trigger.receivedAt,
      actor: trigger.actor,
      reason: trigger.body.reason,
      ...(trigger.traceparent !== undefined && { traceparent: trigger.traceparent }),
    },
    trigger: {
      kind: 'operator',
      idempotencyKey: trigger.idempotencyKey,
      requestedBy: trigger.actor,
      reason: trigger.body.reason,
      receivedAt: trigger.receivedAt,
      origin: { via: 'http', ...trigger.origin },
    },
    intent: {
      kind: 'build-and-release',
      snapshotSetRoot: trigger.body.snapshotSetRoot as `sha256:${string}`,
      digests: digests.map((d) => d as `sha256:${string}`),
      env: trigger.body.env,
      channel: trigger.body.channel,
    },
  };
}

/**
 * Whether an existing Case was opened by the same request as `trigger` (same idempotency key, same
 * actor and same body fields). Receipt time and origin may differ: that is what a retry looks like.
 * A different actor reusing the key counts as a different request (fail closed).
 */
export function isSameTrigger(existing: CaseDetails, trigger: OperatorTrigger): boolean {
  const t = existing.trigger;
  const i = existing.intent;
  return (
    t.kind === 'operator' &&
    t.idempotencyKey === trigger.idempotencyKey &&
    t.requestedBy === trigger.actor &&
    t.reason === trigger.body.reason &&
    i.snapshotSetRoot === trigger.body.snapshotSetRoot &&
    i.env === trigger.body.env &&
    i.channel === trigger.body.channel
  );
}

/** Where a Case stands, for people: derived from the state, never stored separately. */
export type CasePhase = 'building' | 'releasing' | 'succeeded' | 'failed';

/** The JSON view of a Case returned by the operator API. */
export interface CaseView {
  readonly caseId: string;
  readonly tenant: string;
  readonly status: 'open' | 'closed';
  readonly phase: CasePhase;
  readonly outcome?: 'succeeded' | 'failed';
  readonly code?: string;
  readonly message?: string;
  readonly trigger: CaseDetails['trigger'];
  readonly intent: CaseDetails['intent'];
  readonly tasks: CaseDetails['tasks'];
  readonly openedAt: string;
  readonly closedAt?: string;
}

/** The view of an opened Case; refuses CASE_NOT_FOUND for the initial state. */
export function caseView(state: CaseState): CaseView {
  if (state.status === 'initial') throw new KoaRefusal('CASE_NOT_FOUND', 'no such case');
  const base = { caseId: state.caseId, tenant: state.tenant, trigger: state.trigger, intent: state.intent, tasks: state.tasks, openedAt: state.openedAt };
  if (state.status === 'closed') {
    return {
      ...base,
      status: 'closed',
      phase: state.outcome,
      outcome: state.outcome,
      closedAt: state.closedAt,
      ...(state.code !== undefined && { code: state.code }),
      ...(state.message !== undefined && { message: state.message }),
    };
  }
  const releasing = state.tasks.some((t) => t.kind === 'release');
  return { ...base, status: 'open', phase: releasing ? 'releasing' : 'building' };
}
