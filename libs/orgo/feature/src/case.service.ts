import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { KoaRefusal } from '@koa/contracts';
import { CaseReadModel, type CaseQuery } from '@koa/orgo/data-access';
import {
  caseIdFor,
  caseView,
  commandForOutcome,
  decide,
  evolve,
  initialState,
  isCaseEvent,
  isSameTrigger,
  openCaseCommand,
  replay,
  type CaseEvent,
  type CaseView,
  type OperatorTrigger,
  type OutcomeEvent,
} from '@koa/orgo/domain';
import { CachedAggregates, ConcurrencyConflict, MESSAGING, type AggregateRead, type Messaging } from '@koa/platform/messaging';
import { CLOCK, type Clock } from '@koa/platform/service';
import { SealedSets, type SnapshotSetSealed } from './sealed-sets';

/** How many times an outcome is re-decided after losing an append race before the delivery is nak'ed. */
export const MAX_DECIDE_ATTEMPTS = 5;

/** The answer to a trigger: the Case, and whether this call opened it (false: an idempotent retry). */
export interface TriggerResult {
  readonly created: boolean;
  readonly view: CaseView;
}

/** What recording an outcome did. */
export type OutcomeResult = 'applied' | 'repaired' | 'already-applied' | 'no-op';

/** A Case that does not exist yet: what its opening append is guarded by (expected last subject sequence 0). */
const NO_CASE: AggregateRead = Object.freeze({ events: Object.freeze([]), lastSequence: 0 });

/**
 * The command side of orgo-control: load the Case aggregate from the event log, decide with the
 * pure decider, append with optimistic concurrency on `koa.evt.<tenant>.case.<caseId>`.
 */
@Injectable()
export class CaseService implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger('CaseService');
  /** the Cases this process last read or wrote (validated by last sequence before each use) */
  private readonly caseLog: CachedAggregates;
  /** the sealed snapshot sets triggers name (followed on the log; read when not yet seen) */
  private readonly sealedSets: SealedSets;

  constructor(
    @Inject(MESSAGING) private readonly messaging: Messaging,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly readModel: CaseReadModel,
  ) {
    this.caseLog = new CachedAggregates(messaging);
    this.sealedSets = new SealedSets(messaging);
  }

  async onModuleInit(): Promise<void> {
    await this.sealedSets.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.sealedSets.stop();
  }

  /**
   * Opens the Case of an operator trigger, or answers the existing one:
   *
   * - caseId = `caseIdFor(tenant, Idempotency-Key)`; the sealed set `snapshotset/<root hex>` gives
   *   the digests ({@link SealedSets}: from memory when this process saw it sealed, else one read);
   * - `CaseOpened` is appended ALONE with `expectedLastSubjectSequence: 0` — the Case is not read
   *   first: if it exists, that append conflicts (or, for the same deterministic event id inside
   *   the duplicate window, is a msg-id duplicate and stores nothing), and the Case is then read
   *   and answered as a retry: the same request (key, actor, body) ⇒ `created: false` with the
   *   Case as it is now; a different one ⇒ IDEMPOTENCY_KEY_REUSED;
   * - only once `CaseOpened` is stored by THIS call, `TaskRequested(build)` is appended guarded
   *   by its sequence (so a build task is never appended on a Case another request opened);
   * - a set that is not sealed (or cannot be read) is reported only for a new Case: if the Case
   *   exists, the answer is the retry's (SNAPSHOT_NOT_FOUND if the root was never sealed for this
   *   tenant and there is no Case).
   */
  async trigger(trigger: OperatorTrigger): Promise<TriggerResult> {
    const caseId = caseIdFor(trigger.tenant, trigger.idempotencyKey);
    const root = trigger.body.snapshotSetRoot;
    let sealed: SnapshotSetSealed | undefined;
    try {
      sealed = await this.sealedSets.get(trigger.tenant, root);
    } catch (error) {
      return this.answerExisting(trigger, caseId, error);
    }
    if (!sealed) {
      return this.answerExisting(trigger, caseId, new KoaRefusal('SNAPSHOT_NOT_FOUND', `snapshot set ${root} is not sealed for tenant ${trigger.tenant}`, { field: 'snapshotSetRoot', root }));
    }

    const events = decide(openCaseCommand(trigger, sealed.data.digests), initialState());
    const [opened, ...rest] = events;
    const tenant = trigger.tenant;
    // CaseOpened ALONE first, on a Case that must not exist yet
    let first: { seq: number; duplicate: boolean } | undefined;
    try {
      [first] = await this.messaging.append([opened], { expectedLastSubjectSequence: NO_CASE.lastSequence });
    } catch (e) {
      if (!(e instanceof ConcurrencyConflict)) {
        this.caseLog.forget(tenant, 'case', caseId);
        throw e;
      }
    }
    // the event ids are deterministic: a conflict, or a msg-id duplicate, means an earlier or
    // concurrent trigger with this key opened the Case. This process' copy of it (if any) is kept:
    // the read checks it against the log first, so a retry answers after a one-round-trip read.
    if (!first || first.duplicate) return this.answerRetry(trigger, caseId, await this.caseLog.read(tenant, 'case', caseId));
    // stored by this call: now the build task, guarded by CaseOpened's sequence
    let acks: Array<{ seq: number; duplicate: boolean }>;
    try {
      acks = [first, ...(await this.messaging.append(rest, { expectedLastSubjectSequence: first.seq }))];
    } catch (e) {
      this.caseLog.forget(tenant, 'case', caseId);
      if (!(e instanceof ConcurrencyConflict)) throw e;
      // a concurrent retry completed the opening first (it appends the same TaskRequested id)
      return this.answerRetry(trigger, caseId, await this.caseLog.read(tenant, 'case', caseId));
    }
    this.caseLog.appended(tenant, 'case', caseId, NO_CASE, events, acks);
    if (acks.some((a) => a.duplicate)) return { created: true, view: caseView(replay((await this.caseLog.read(tenant, 'case', caseId)).events)) };
    this.log.log({ msg: 'case opened', tenant, caseId, actor: trigger.actor, env: trigger.body.env, channel: trigger.body.channel });
    return { created: true, view: caseView(events.reduce(evolve, initialState())) };
  }

  /** A trigger whose set is not sealed or could not be read: the existing Case's answer, else `error`. */
  private async answerExisting(trigger: OperatorTrigger, caseId: string, error: unknown): Promise<TriggerResult> {
    const existing = await this.caseLog.read(trigger.tenant, 'case', caseId);
    if (existing.lastSequence > 0) return this.answerRetry(trigger, caseId, existing);
    throw error;
  }

  private async answerRetry(trigger: OperatorTrigger, caseId: string, existing: AggregateRead): Promise<TriggerResult> {
    let state = replay(existing.events);
    if (state.status === 'initial') throw new KoaRefusal('INTERNAL', `case ${caseId} has events but no CaseOpened`);
    if (!isSameTrigger(state, trigger)) {
      throw new KoaRefusal('IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${JSON.stringify(trigger.idempotencyKey)} was already used by a different request (case ${caseId}, requested by ${state.trigger.requestedBy})`, { field: 'Idempotency-Key', caseId });
    }
    if (state.status === 'open' && state.tasks.length === 0) {
      // an earlier attempt appended CaseOpened but not TaskRequested (appends are not atomic): finish it
      const intended = decide(openCaseCommand({ ...trigger, receivedAt: state.trigger.receivedAt, origin: state.trigger.origin }, state.intent.digests), initialState());
      const missing = intended.filter((e) => !existing.events.some((x) => x.id === e.id));
      await this.appendOrIgnoreConflict(trigger.tenant, caseId, existing, missing);
      state = replay([...existing.events, ...missing]);
    }
    return { created: false, view: caseView(state) };
  }

  /** The Case as the event log has it (strongly consistent). CASE_NOT_FOUND if none. */
  async get(tenant: string, caseId: string): Promise<CaseView> {
    const { events } = await this.caseLog.read(tenant, 'case', caseId);
    const state = replay(events);
    if (state.status === 'initial') throw new KoaRefusal('CASE_NOT_FOUND', `no case ${caseId} for tenant ${tenant}`, { caseId });
    return caseView(state);
  }

  /** Cases from the `orgo.cases` read model (eventually consistent), newest first. */
  list(tenant: string, query: CaseQuery): Promise<CaseView[]> {
    return this.readModel.list(tenant, query);
  }

  /**
   * Records a build or release outcome on its Case: load, decide, append with the loaded last
   * sequence; on a lost race reload and decide again (at most {@link MAX_DECIDE_ATTEMPTS} times,
   * then CONCURRENCY_CONFLICT, retryable ⇒ the delivery is nak'ed and retried later).
   *
   * Idempotent with no time limit: the Case's own events carry `causationid` = the outcome event
   * id, so a redelivered outcome is recognised; if only part of an earlier decision was appended,
   * the missing events (same deterministic ids) are appended now.
   * Refusals from the decider (CASE_NOT_FOUND, CASE_COMMAND_INVALID, CASE_ALREADY_CLOSED) are
   * permanent: the transport dead-letters the outcome with that code.
   */
  async recordOutcome(event: OutcomeEvent): Promise<OutcomeResult> {
    const tenant = event.tenantid;
    const caseId = event.data.caseId;
    for (let attempt = 1; attempt <= MAX_DECIDE_ATTEMPTS; attempt++) {
      // first attempt: this process' own last copy of the Case, not re-validated. A decision that
      // appends is guarded by the copy's sequence (a stale copy conflicts, and the next attempt
      // reads the log); a decision that appends nothing, or refuses, is taken again on a read.
      const peeked = attempt === 1 ? this.caseLog.peek(tenant, 'case', caseId) : undefined;
      let read = peeked ?? (await this.caseLog.read(tenant, 'case', caseId));
      let decision = this.decideOutcome(event, read);
      if (peeked && !('next' in decision && decision.next.length > 0)) {
        read = await this.caseLog.read(tenant, 'case', caseId);
        decision = this.decideOutcome(event, read);
      }
      if ('error' in decision) throw decision.error;
      const { next, result } = decision;
      if (next.length === 0) return result;
      try {
        await this.append(tenant, caseId, read, next);
        this.log.log({ msg: `outcome ${result}`, tenant, caseId, cause: event.type, causeId: event.id, appended: next.map((e) => e.type) });
        return result;
      } catch (e) {
        if (!(e instanceof ConcurrencyConflict)) throw e;
        if (peeked) this.log.debug({ msg: 'remembered case was stale; reading it', tenant, caseId });
        else this.log.warn({ msg: 'case append lost a race; deciding again', tenant, caseId, attempt });
      }
    }
    throw new KoaRefusal('CONCURRENCY_CONFLICT', `case ${caseId}: still conflicting after ${MAX_DECIDE_ATTEMPTS} attempts`, { caseId });
  }

  /** What an outcome does to the Case as read: the events to append (none: already applied, or nothing to do), or the decider's refusal. */
  private decideOutcome(event: OutcomeEvent, read: AggregateRead): { next: CaseEvent[]; result: OutcomeResult } | { error: unknown } {
    try {
      const caseEvents = read.events.filter(isCaseEvent);
      const firstCaused = caseEvents.findIndex((e) => e.causationid === event.id);
      const command = commandForOutcome(event, this.clock.now().toISOString());
      if (firstCaused >= 0) {
        const intended = decide(command, replay(caseEvents.slice(0, firstCaused)));
        const next = intended.filter((e) => !caseEvents.some((x) => x.id === e.id));
        return { next, result: next.length === 0 ? 'already-applied' : 'repaired' };
      }
      const next = decide(command, replay(caseEvents));
      return { next, result: next.length === 0 ? 'no-op' : 'applied' };
    } catch (error) {
      return { error };
    }
  }

  private async appendOrIgnoreConflict(tenant: string, caseId: string, before: AggregateRead, events: CaseEvent[]): Promise<void> {
    if (events.length === 0) return;
    try {
      await this.append(tenant, caseId, before, events);
    } catch (e) {
      if (!(e instanceof ConcurrencyConflict)) throw e;
    }
  }

  /** Appends to a Case guarded by the sequence it was read at, and remembers the result for the next read. */
  private async append(tenant: string, caseId: string, before: AggregateRead, events: readonly CaseEvent[]): Promise<Array<{ seq: number; duplicate: boolean }>> {
    try {
      const acks = await this.messaging.append(events, { expectedLastSubjectSequence: before.lastSequence });
      this.caseLog.appended(tenant, 'case', caseId, before, events, acks);
      return acks;
    } catch (e) {
      this.caseLog.forget(tenant, 'case', caseId);
      throw e;
    }
  }
}
