import {
  BuildAndReleaseIntent,
  CaseClosed,
  CaseOpened,
  KoaRefusal,
  TaskCompleted,
  TaskRequested,
  createEvent,
  type AnyKoaEvent,
  type DataOf,
  type EventOf,
} from '@koa/contracts';
import type { z } from 'zod';
import { policyFor, type GatePolicy } from './policy';

/** The four event types of the Case aggregate (subject `koa.evt.<tenant>.case.<caseId>`). */
export type CaseEvent = EventOf<typeof CaseOpened> | EventOf<typeof TaskRequested> | EventOf<typeof TaskCompleted> | EventOf<typeof CaseClosed>;

export const CASE_EVENT_TYPES: readonly CaseEvent['type'][] = [CaseOpened.type, TaskRequested.type, TaskCompleted.type, CaseClosed.type];

/** Narrows any catalog event to a Case event. */
export const isCaseEvent = (event: AnyKoaEvent): event is CaseEvent => (CASE_EVENT_TYPES as readonly string[]).includes(event.type);

export type Trigger = DataOf<typeof CaseOpened>['trigger'];
export type Intent = z.output<typeof BuildAndReleaseIntent>;
export type TaskParams = DataOf<typeof TaskRequested>['params'];

// ---- state ---------------------------------------------------------------------------------

/** One Task of a Case, as the Case sees it. */
export interface CaseTask {
  readonly taskId: string;
  readonly kind: 'build' | 'release';
  readonly status: 'requested' | 'succeeded' | 'failed';
  readonly params: TaskParams;
  readonly requestedAt: string;
  /** build id / release id that carried the task out */
  readonly ref?: string;
  readonly code?: string;
  readonly message?: string;
  readonly completedAt?: string;
}

/** What every opened Case knows. */
export interface CaseDetails {
  readonly caseId: string;
  readonly tenant: string;
  readonly trigger: Trigger;
  readonly intent: Intent;
  readonly openedAt: string;
  readonly tasks: readonly CaseTask[];
}

/**
 * The state of one Case: `initial` (nothing recorded), `open` (work in progress) or `closed`
 * (terminal; `outcome` and, if failed, the refusal `code` that ended it).
 */
export type CaseState =
  | { readonly status: 'initial' }
  | (CaseDetails & { readonly status: 'open' })
  | (CaseDetails & { readonly status: 'closed'; readonly outcome: 'succeeded' | 'failed'; readonly code?: string; readonly message?: string; readonly closedAt: string });

export const initialState = (): CaseState => ({ status: 'initial' });

// ---- commands ------------------------------------------------------------------------------

/**
 * Everything a command brings that the decider must not invent: time, ids and envelope metadata.
 * Event `i` (0-based) of a decision gets the envelope id `${eventIdBase}-${i + 1}`, so a caller
 * that derives `eventIdBase` deterministically (from the idempotency key, or from the id of the
 * event being handled) makes a retried append de-duplicate on `Nats-Msg-Id`.
 */
export interface CommandMeta {
  readonly eventIdBase: string;
  /** ISO-8601 time of the decision */
  readonly time: string;
  /** who acts: the operator for OpenCase, `service:orgo-control` for recorded outcomes */
  readonly actor: string;
  /** the event that caused this command (for recorded outcomes) */
  readonly causationId?: string;
  readonly reason?: string;
  readonly traceparent?: string;
}

/** Opens a Case and requests its build Task. */
export interface OpenCase {
  readonly type: 'OpenCase';
  readonly meta: CommandMeta;
  readonly tenant: string;
  readonly caseId: string;
  readonly trigger: Trigger;
  readonly intent: Intent;
  readonly buildTaskId: string;
}

/** Records the outcome of the build Task (from PackCompiled or BuildFailed). */
export interface RecordBuildOutcome {
  readonly type: 'RecordBuildOutcome';
  readonly meta: CommandMeta;
  readonly taskId: string;
  readonly buildId: string;
  readonly result:
    | {
        readonly outcome: 'succeeded';
        readonly pack: { readonly digest: string; readonly size: number };
        readonly evidenceDigest: string;
        readonly provenanceDigest: string;
        /** the snapshot set the build actually consumed (from its provenance) */
        readonly snapshotSetRoot: string;
        /** id of the release Task to request */
        readonly releaseTaskId: string;
      }
    | { readonly outcome: 'failed'; readonly code: string; readonly message: string };
}

/** Records the outcome of the release Task (from ReleaseActivated or ReleaseRefused). */
export interface RecordReleaseOutcome {
  readonly type: 'RecordReleaseOutcome';
  readonly meta: CommandMeta;
  readonly taskId: string;
  readonly releaseId: string;
  readonly result: { readonly outcome: 'activated' } | { readonly outcome: 'refused'; readonly code: string; readonly message: string };
}

export type CaseCommand = OpenCase | RecordBuildOutcome | RecordReleaseOutcome;

export interface DecideOptions {
  /** the gate policy lookup (default {@link policyFor}) */
  readonly policyFor?: (env: string) => GatePolicy;
}

// ---- decide --------------------------------------------------------------------------------

const SOURCE = 'orgo-control';

/**
 * The Case decider: given a command and the current state, the events to append (possibly none,
 * when the command was already applied), or a KoaRefusal:
 *
 * - any command on a closed Case ⇒ CASE_ALREADY_CLOSED;
 * - an outcome for a Case that was never opened ⇒ CASE_NOT_FOUND;
 * - OpenCase on an open Case, an outcome for a task the Case does not have, of the wrong kind, or
 *   already completed differently, a build that consumed another snapshot set ⇒ CASE_COMMAND_INVALID.
 *
 * Pure: no clock, no randomness; ids and time arrive in `command.meta`.
 */
export function decide(command: CaseCommand, state: CaseState, options: DecideOptions = {}): CaseEvent[] {
  if (state.status === 'closed') {
    throw new KoaRefusal('CASE_ALREADY_CLOSED', `case ${state.caseId} is closed (${state.outcome}${state.code ? `, ${state.code}` : ''}); ${command.type} refused`, { caseId: state.caseId, command: command.type });
  }
  switch (command.type) {
    case 'OpenCase':
      return openCase(command, state);
    case 'RecordBuildOutcome':
      return recordBuildOutcome(command, requireOpen(command, state), options.policyFor ?? policyFor);
    case 'RecordReleaseOutcome':
      return recordReleaseOutcome(command, requireOpen(command, state));
    default: {
      const _exhaustive: never = command;
      throw new KoaRefusal('CASE_COMMAND_INVALID', `unknown case command ${JSON.stringify((_exhaustive as { type?: unknown }).type)}`);
    }
  }
}

function requireOpen(command: CaseCommand, state: CaseState): Extract<CaseState, { status: 'open' }> {
  if (state.status !== 'open') {
    throw new KoaRefusal('CASE_NOT_FOUND', `${command.type}: no case is open for task ${'taskId' in command ? command.taskId : '?'}`, { command: command.type });
  }
  return state;
}

function openCase(command: OpenCase, state: CaseState): CaseEvent[] {
  if (state.status !== 'initial') {
    throw new KoaRefusal('CASE_COMMAND_INVALID', `case ${command.caseId} is already open; OpenCase refused`, { caseId: command.caseId });
  }
  const ctx = envelope(command.meta, command.tenant, command.caseId);
  return [
    createEvent(CaseOpened, { ...ctx(0), data: { caseId: command.caseId, trigger: command.trigger, intent: command.intent } }),
    createEvent(TaskRequested, {
      ...ctx(1),
      data: { caseId: command.caseId, taskId: command.buildTaskId, params: { kind: 'build', snapshotSetRoot: command.intent.snapshotSetRoot, digests: [...command.intent.digests] } },
    }),
  ];
}

function findTask(state: CaseDetails, command: RecordBuildOutcome | RecordReleaseOutcome, kind: CaseTask['kind']): CaseTask {
  const task = state.tasks.find((t) => t.taskId === command.taskId);
  if (!task) {
    throw new KoaRefusal('CASE_COMMAND_INVALID', `case ${state.caseId} has no task ${JSON.stringify(command.taskId)}; ${command.type} refused`, { caseId: state.caseId, taskId: command.taskId });
  }
  if (task.kind !== kind) {
    throw new KoaRefusal('CASE_COMMAND_INVALID', `task ${command.taskId} of case ${state.caseId} is a ${task.kind} task, not a ${kind} task`, { caseId: state.caseId, taskId: command.taskId });
  }
  return task;
}

function recordBuildOutcome(command: RecordBuildOutcome, state: Extract<CaseState, { status: 'open' }>, lookup: (env: string) => GatePolicy): CaseEvent[] {
  const task = findTask(state, command, 'build');
  const succeeded = command.result.outcome === 'succeeded';
  if (task.status !== 'requested') {
    // the same outcome recorded again is a no-op; a different one is a contradiction
    if (task.ref === command.buildId && (task.status === 'succeeded') === succeeded) return [];
    throw new KoaRefusal('CASE_COMMAND_INVALID', `build task ${task.taskId} of case ${state.caseId} already ${task.status} (build ${task.ref}); outcome of build ${command.buildId} refused`, { caseId: state.caseId, taskId: task.taskId });
  }
  const ctx = envelope(command.meta, state.tenant, state.caseId);
  const result = command.result;
  switch (result.outcome) {
    case 'succeeded': {
      if (result.snapshotSetRoot !== state.intent.snapshotSetRoot) {
        throw new KoaRefusal('CASE_COMMAND_INVALID', `build ${command.buildId} consumed snapshot set ${result.snapshotSetRoot}, but case ${state.caseId} pinned ${state.intent.snapshotSetRoot}`, { caseId: state.caseId, taskId: task.taskId });
      }
      const policy = lookup(state.intent.env);
      if (policy.approvalsRequired > 0) {
        // fail closed: approval gates are a seam, not implemented yet (issue 3 needs none)
        throw new KoaRefusal('CASE_COMMAND_INVALID', `environment ${state.intent.env} requires ${policy.approvalsRequired} approval(s); approvals are not supported yet, release not requested`, { caseId: state.caseId, env: state.intent.env });
      }
      return [
        createEvent(TaskCompleted, { ...ctx(0), data: { caseId: state.caseId, taskId: task.taskId, kind: 'build', outcome: 'succeeded', ref: command.buildId } }),
        createEvent(TaskRequested, {
          ...ctx(1),
          data: {
            caseId: state.caseId,
            taskId: result.releaseTaskId,
            params: {
              kind: 'release',
              buildId: command.buildId,
              env: state.intent.env,
              channel: state.intent.channel,
              pack: { digest: result.pack.digest, size: result.pack.size },
              evidenceDigest: result.evidenceDigest,
              provenanceDigest: result.provenanceDigest,
            },
          },
        }),
      ];
    }
    case 'failed':
      return [
        createEvent(TaskCompleted, { ...ctx(0), data: { caseId: state.caseId, taskId: task.taskId, kind: 'build', outcome: 'failed', code: result.code, message: result.message, ref: command.buildId } }),
        createEvent(CaseClosed, { ...ctx(1), data: { caseId: state.caseId, outcome: 'failed', code: result.code, message: result.message } }),
      ];
    default: {
      const _exhaustive: never = result;
      return _exhaustive;
    }
  }
}

function recordReleaseOutcome(command: RecordReleaseOutcome, state: Extract<CaseState, { status: 'open' }>): CaseEvent[] {
  const task = findTask(state, command, 'release');
  if (task.status !== 'requested') {
    throw new KoaRefusal('CASE_COMMAND_INVALID', `release task ${task.taskId} of case ${state.caseId} already ${task.status}; outcome of release ${command.releaseId} refused`, { caseId: state.caseId, taskId: task.taskId });
  }
  const ctx = envelope(command.meta, state.tenant, state.caseId);
  const result = command.result;
  switch (result.outcome) {
    case 'activated':
      return [
        createEvent(TaskCompleted, { ...ctx(0), data: { caseId: state.caseId, taskId: task.taskId, kind: 'release', outcome: 'succeeded', ref: command.releaseId } }),
        createEvent(CaseClosed, { ...ctx(1), data: { caseId: state.caseId, outcome: 'succeeded' } }),
      ];
    case 'refused':
      return [
        createEvent(TaskCompleted, { ...ctx(0), data: { caseId: state.caseId, taskId: task.taskId, kind: 'release', outcome: 'failed', code: result.code, message: result.message, ref: command.releaseId } }),
        createEvent(CaseClosed, { ...ctx(1), data: { caseId: state.caseId, outcome: 'failed', code: result.code, message: result.message } }),
      ];
    default: {
      const _exhaustive: never = result;
      return _exhaustive;
    }
  }
}

function envelope(meta: CommandMeta, tenant: string, caseId: string) {
  return (index: number) => ({
    id: `${meta.eventIdBase}-${index + 1}`,
    time: meta.time,
    source: SOURCE,
    tenant,
    aggregateId: caseId,
    actor: meta.actor,
    correlationId: caseId,
    ...(meta.causationId !== undefined && { causationId: meta.causationId }),
    ...(meta.reason !== undefined && { reason: meta.reason }),
    ...(meta.traceparent !== undefined && { traceparent: meta.traceparent }),
  });
}

// ---- evolve --------------------------------------------------------------------------------

/**
 * Applies one recorded Case event to the state. Total: an event that does not fit the state (which
 * the decider never produces) leaves the state unchanged, so a replay never throws.
 */
export function evolve(state: CaseState, event: CaseEvent): CaseState {
  switch (event.type) {
    case 'io.koa.orgo.case.opened.v1':
      if (state.status !== 'initial') return state;
      return { status: 'open', caseId: event.data.caseId, tenant: event.tenantid, trigger: event.data.trigger, intent: event.data.intent, openedAt: event.time, tasks: [] };
    case 'io.koa.orgo.task.requested.v1': {
      if (state.status !== 'open') return state;
      const task: CaseTask = { taskId: event.data.taskId, kind: event.data.params.kind, status: 'requested', params: event.data.params, requestedAt: event.time };
      return { ...state, tasks: [...state.tasks.filter((t) => t.taskId !== task.taskId), task] };
    }
    case 'io.koa.orgo.task.completed.v1': {
      if (state.status === 'initial') return state;
      const d = event.data;
      const tasks = state.tasks.map((t) =>
        t.taskId === d.taskId
          ? { ...t, status: d.outcome, completedAt: event.time, ...(d.ref !== undefined && { ref: d.ref }), ...(d.code !== undefined && { code: d.code }), ...(d.message !== undefined && { message: d.message }) }
          : t,
      );
      return { ...state, tasks };
    }
    case 'io.koa.orgo.case.closed.v1': {
      if (state.status !== 'open') return state;
      const d = event.data;
      return { ...state, status: 'closed', outcome: d.outcome, closedAt: event.time, ...(d.code !== undefined && { code: d.code }), ...(d.message !== undefined && { message: d.message }) };
    }
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

/** Folds recorded events (other aggregates' events are ignored) into the Case state. */
export function replay(events: readonly AnyKoaEvent[]): CaseState {
  return events.reduce<CaseState>((s, e) => (isCaseEvent(e) ? evolve(s, e) : s), initialState());
}

/** The decider as one value (Emmett's `Decider<State, Command, Event>` shape). */
export const caseDecider = { decide, evolve, initialState } as const;
