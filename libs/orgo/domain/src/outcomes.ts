import { type AnyKoaEvent, type EventByType } from '@koa/contracts';
import type { CommandMeta, RecordBuildOutcome, RecordReleaseOutcome } from './case.decider';
import { reactionEventIdBase, releaseTaskIdFor } from './case.ids';

/** The event types whose arrival records a Task outcome on a Case. */
export const OUTCOME_EVENT_TYPES = [
  'io.koa.pipeline.pack.compiled.v1',
  'io.koa.pipeline.build.failed.v1',
  'io.koa.release.release.activated.v1',
  'io.koa.release.release.refused.v1',
] as const;
export type OutcomeEventType = (typeof OUTCOME_EVENT_TYPES)[number];
export type OutcomeEvent = EventByType<OutcomeEventType>;

export const isOutcomeEvent = (event: AnyKoaEvent): event is OutcomeEvent => (OUTCOME_EVENT_TYPES as readonly string[]).includes(event.type);

/**
 * Maps a build or release outcome event to the Case command it implies. The command carries
 * deterministic event ids derived from the outcome event (a redelivery produces the same ids),
 * `causationId` = the outcome event id, and the actor `service:orgo-control`.
 * `time` is the decision time (from the caller's clock).
 */
export function commandForOutcome(event: OutcomeEvent, time: string): RecordBuildOutcome | RecordReleaseOutcome {
  const caseId = event.data.caseId;
  const meta: CommandMeta = {
    eventIdBase: reactionEventIdBase(caseId, event),
    time,
    actor: 'service:orgo-control',
    causationId: event.id,
    ...(event.traceparent !== undefined && { traceparent: event.traceparent }),
  };
  switch (event.type) {
    case 'io.koa.pipeline.pack.compiled.v1':
      return {
        type: 'RecordBuildOutcome',
        meta,
        taskId: event.data.taskId,
        buildId: event.data.buildId,
        result: {
          outcome: 'succeeded',
          pack: { digest: event.data.pack.digest, size: event.data.pack.size },
          evidenceDigest: event.data.evidenceDigest,
          provenanceDigest: event.data.provenanceDigest,
          snapshotSetRoot: event.data.provenance.snapshotSetRoot,
          releaseTaskId: releaseTaskIdFor(caseId),
        },
      };
    case 'io.koa.pipeline.build.failed.v1':
      return { type: 'RecordBuildOutcome', meta, taskId: event.data.taskId, buildId: event.data.buildId, result: { outcome: 'failed', code: event.data.code, message: event.data.message } };
    case 'io.koa.release.release.activated.v1':
      return { type: 'RecordReleaseOutcome', meta, taskId: event.data.taskId, releaseId: event.data.releaseId, result: { outcome: 'activated' } };
    case 'io.koa.release.release.refused.v1':
      return { type: 'RecordReleaseOutcome', meta, taskId: event.data.taskId, releaseId: event.data.releaseId, result: { outcome: 'refused', code: event.data.code, message: event.data.message } };
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}
