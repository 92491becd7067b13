import { Logger } from '@nestjs/common';
import {
  BuildFailed,
  BuildStarted,
  KoaRefusal,
  OBJECT_STORES,
  PackCompiled,
  STREAMS,
  SnapshotCaptured,
  StageCompleted,
  StageFailed,
  TaskRequested,
  ValidationRecorded,
  createEvent,
  digestHex,
  isKoaRefusal,
  objectNameFor,
  parseEvent,
  sha256Digest,
  snapshotSetRootOf,
  subjects,
  type AnyKoaEvent,
  type EventOf,
  type KoaEvent,
} from '@koa/contracts';
import { PACK_MEDIA_TYPE } from '@koa/pack-format';
import { PIPELINE_VERSION, evidenceSummary, runPipeline, type PipelineInput, type PipelineRun, type StageName } from '@koa/pipeline/domain';
import { ConcurrencyConflict, type Messaging } from '@koa/platform/messaging';
import type { Clock } from '@koa/platform/service';
import { PIPELINE_WORKER_VERSION, type PipelineWorkerSettings } from './config';
import { buildEventId, buildIdFor } from './ids';

export const PIPELINE_SOURCE = 'pipeline-worker';
export const PIPELINE_ACTOR = 'service:pipeline-worker';
/** `ValidationRecorded.results` cap (the contract allows 2000; the full report is in the digest). */
export const EVIDENCE_RESULTS_CAP = 2000;
/** snapshot aggregates read at once while loading a build's inputs */
const INPUT_READS_IN_FLIGHT = 8;

/** What happened to one build task. */
export type BuildTaskOutcome =
  | { readonly status: 'ignored'; readonly reason: string }
  | { readonly status: 'already-finished'; readonly buildId: string; readonly outcome: 'compiled' | 'failed' }
  | { readonly status: 'compiled'; readonly buildId: string; readonly packDigest: string }
  | { readonly status: 'failed'; readonly buildId: string; readonly stage: StageName; readonly code: string };

type TaskEvent = EventOf<typeof TaskRequested>;
type SnapshotCapturedEvent = EventOf<typeof SnapshotCaptured>;

/**
 * The pipeline-worker's build process for one `TaskRequested` (kind `build`) event:
 *
 * 1. `buildId = buildIdFor(taskId)`; append `BuildStarted` expecting an empty build subject —
 *    if the subject is in use (a redelivery, another replica), read the build aggregate instead:
 *    if it already ended (`PackCompiled` / `BuildFailed`) there is nothing to do (idempotent
 *    redelivery), otherwise the run continues from what is there.
 * 2. The task's digests must hash to the pinned snapshot-set root (else `SNAPSHOT_SET_MISMATCH`,
 *    nothing read).
 * 3. Load every snapshot of the pinned set (read while step 1 runs: reads only): media type from
 *    its `SnapshotCaptured` event, bytes from `koa-snapshots` at `objectNameFor(tenant, digest)`,
 *    sha256 checked ⇒ otherwise the build fails at `extract` with BUILD_INPUT_MISSING.
 * 4. `runPipeline` (pure); one `StageCompleted` / `StageFailed` per stage that ran, and
 *    `ValidationRecorded` (results capped, failures first; the full report hashed) before the
 *    validate stage outcome.
 * 5. Success: the pack is put into `koa-packs` at `objectNameFor(tenant, packDigest)` (while the
 *    earlier stage events are appended) BEFORE `StageCompleted(compile)` and `PackCompiled` (with
 *    provenance) are appended; failure: `BuildFailed`, nothing stored.
 *
 * Every event of a build has a deterministic id ({@link buildEventId}) and is appended with the
 * expected last subject sequence, skipping events already on the subject: a redelivery after a
 * crash continues where the previous attempt stopped, and two replicas racing on one build cannot
 * both write (the loser gets CONCURRENCY_CONFLICT, is redelivered, and finds the work done).
 *
 * Build failures are outcomes (events), not errors. Broker trouble and conflicts are thrown
 * (retryable ⇒ nak and redelivery).
 */
export class PipelineWorker {
  private readonly log = new Logger('PipelineWorker');

  constructor(
    private readonly messaging: Messaging,
    private readonly clock: Clock,
    private readonly settings: PipelineWorkerSettings,
  ) {}

  async handleTask(task: TaskEvent, working: () => void = () => undefined): Promise<BuildTaskOutcome> {
    const params = task.data.params;
    if (params.kind !== 'build') return { status: 'ignored', reason: `task kind ${params.kind}` };
    const tenant = task.tenantid;
    const { caseId, taskId } = task.data;
    const buildId = buildIdFor(taskId);
    const log = { tenant, caseId, taskId, buildId };

    const meta = (step: string) => ({
      id: buildEventId(tenant, buildId, step),
      time: this.clock.now().toISOString(),
      source: PIPELINE_SOURCE,
      tenant,
      aggregateId: buildId,
      actor: PIPELINE_ACTOR,
      correlationId: caseId,
      causationId: task.id,
      ...(task.traceparent !== undefined && { traceparent: task.traceparent }),
    });
    const started = createEvent(BuildStarted, {
      ...meta('started'),
      data: { buildId, caseId, taskId, snapshotSetRoot: params.snapshotSetRoot, inputs: [...params.digests], pipelineVersion: PIPELINE_VERSION },
    });

    // truth boundary: build exactly the sealed set the Case pinned, nothing else (a mismatch is recorded below)
    const root = snapshotSetRootOf(params.digests);
    // the pinned inputs are read while the build is started (read-only; nothing is built before the checks below)
    const loading = root === params.snapshotSetRoot ? this.loadInputs(tenant, params.digests, working).then((inputs) => ({ inputs }), (error: unknown) => ({ error })) : undefined;

    const current = await this.startOrResume(tenant, buildId, started);
    const ended = current.events.find((e) => e.type === PackCompiled.type || e.type === BuildFailed.type);
    if (ended) {
      this.log.log({ msg: 'build already finished; redelivery ignored', ...log, outcome: ended.type });
      return { status: 'already-finished', buildId, outcome: ended.type === PackCompiled.type ? 'compiled' : 'failed' };
    }
    const writer = new BuildWriter(this.messaging, current.events, current.lastSequence);

    // a previous attempt recorded a failed stage but stopped before BuildFailed: finish that outcome
    const stageFailed = current.events.find((e): e is EventOf<typeof StageFailed> => e.type === StageFailed.type);
    if (stageFailed) {
      const { stage, code, message } = stageFailed.data;
      await writer.append(createEvent(BuildFailed, { ...meta('failed'), data: { buildId, caseId, taskId, stage, code, message } }));
      return { status: 'failed', buildId, stage, code };
    }

    await writer.append(started); // already there unless the subject held something else (skipped then)
    this.log.log({ msg: 'build started', ...log, inputs: params.digests.length });
    working();

    const fail = async (stage: StageName, code: string, message: string): Promise<BuildTaskOutcome> => {
      await writer.append(createEvent(BuildFailed, { ...meta('failed'), data: { buildId, caseId, taskId, stage, code, message: message.slice(0, 1024) } }));
      this.log.warn({ msg: 'build failed', ...log, stage, code, reason: message });
      return { status: 'failed', buildId, stage, code };
    };

    if (!loading) {
      const message = `task digests hash to snapshot-set root ${root}, not the pinned ${params.snapshotSetRoot}`;
      await writer.append(createEvent(StageFailed, { ...meta('stage-extract'), data: { buildId, caseId, stage: 'extract', code: 'SNAPSHOT_SET_MISMATCH', message } }));
      return fail('extract', 'SNAPSHOT_SET_MISMATCH', message);
    }

    const loaded = await loading;
    if ('error' in loaded) {
      const e = loaded.error;
      if (!(isKoaRefusal(e) && e.code === 'BUILD_INPUT_MISSING')) throw e;
      await writer.append(createEvent(StageFailed, { ...meta('stage-extract'), data: { buildId, caseId, stage: 'extract', code: e.code, message: e.message.slice(0, 1024) } }));
      return fail('extract', e.code, e.message);
    }
    const inputs: PipelineInput[] = loaded.inputs;
    working();

    const run: PipelineRun = runPipeline(inputs, {
      tenant,
      snapshotSetRoot: params.snapshotSetRoot,
      pipelineVersion: PIPELINE_VERSION,
      builder: { id: this.settings.builderId, version: PIPELINE_WORKER_VERSION },
      validation: this.settings.knownTypes ? { knownTypes: this.settings.knownTypes } : undefined,
    });

    // the pack is stored while the earlier stage events are appended, and before anything says it exists
    const stored = run.result.ok ? this.storePack(tenant, run.result.pack.digest, run.result.pack.bytes) : undefined;
    stored?.catch(() => undefined); // awaited below; an append failing first must not leave it unhandled
    for (const stage of run.stages) {
      if (stage.stage === 'validate' && run.evidence) {
        const s = evidenceSummary(run.evidence, EVIDENCE_RESULTS_CAP);
        await writer.append(createEvent(ValidationRecorded, { ...meta('validation'), data: { buildId, caseId, passed: s.passed, evidenceDigest: s.evidenceDigest, results: s.results, truncated: s.truncated } }));
      }
      if (stage.stage === 'compile' && stage.ok && stored) await stored;
      await writer.append(
        stage.ok
          ? createEvent(StageCompleted, { ...meta(`stage-${stage.stage}`), data: { buildId, caseId, stage: stage.stage, stats: { ...stage.stats } } })
          : createEvent(StageFailed, { ...meta(`stage-${stage.stage}`), data: { buildId, caseId, stage: stage.stage, code: stage.code, message: stage.message.slice(0, 1024) } }),
      );
      working();
    }

    if (!run.result.ok) return fail(run.result.stage, run.result.code, run.result.message);
    await stored;
    const r = run.result;
    await writer.append(
      createEvent(PackCompiled, {
        ...meta('compiled'),
        data: {
          buildId,
          caseId,
          taskId,
          pack: { digest: r.pack.digest, size: r.pack.size, mediaType: PACK_MEDIA_TYPE },
          manifestDigest: r.pack.manifestDigest,
          evidenceDigest: r.evidenceDigest,
          provenance: r.provenance,
          provenanceDigest: r.provenanceDigest,
        },
      }),
    );
    this.log.log({ msg: 'pack compiled', ...log, packDigest: r.pack.digest, size: r.pack.size, entities: r.pack.manifest.counts.entities });
    return { status: 'compiled', buildId, packDigest: r.pack.digest };
  }

  /**
   * Starts a build the usual way — `BuildStarted` appended expecting an empty subject (one round
   * trip) — and reads the build aggregate only when that finds the subject in use (a redelivery,
   * or another replica): the state the rest of the run continues from.
   */
  private async startOrResume(tenant: string, buildId: string, started: KoaEvent): Promise<{ events: AnyKoaEvent[]; lastSequence: number }> {
    try {
      const [ack] = await this.messaging.append([started], { expectedLastSubjectSequence: 0 });
      if (!ack.duplicate) return { events: [started as AnyKoaEvent], lastSequence: ack.seq };
    } catch (e) {
      if (!(e instanceof ConcurrencyConflict)) throw e;
    }
    return this.messaging.readAggregate(tenant, 'build', buildId);
  }

  /** Snapshot bytes and media types of the pinned set; BUILD_INPUT_MISSING names the first gap. */
  private async loadInputs(tenant: string, digests: readonly string[], working: () => void): Promise<PipelineInput[]> {
    const sorted = [...new Set(digests)].sort();
    // the snapshot aggregates are read ahead (a bounded window) while the inputs are checked and fetched in order
    const reads = new Array<Promise<SnapshotCapturedEvent | undefined>>(sorted.length);
    let next = 0;
    let done = 0;
    const readAhead = (): void => {
      while (next < sorted.length && next - done < INPUT_READS_IN_FLIGHT) {
        const r = this.capturedOf(tenant, sorted[next]);
        r.catch(() => undefined); // awaited in order below
        reads[next++] = r;
      }
    };
    readAhead();
    const store = await this.messaging.blobs(OBJECT_STORES.snapshots.bucket);
    const out: PipelineInput[] = [];
    let total = 0;
    for (const digest of sorted) {
      const missing = (why: string): KoaRefusal => new KoaRefusal('BUILD_INPUT_MISSING', `snapshot ${digest}: ${why}`, { digest });
      const captured = await reads[done++];
      readAhead();
      if (!captured) throw missing(`no ${SnapshotCaptured.type} event for tenant ${tenant}`);
      total += captured.data.size;
      if (total > this.settings.maxInputBytes) throw missing(`the snapshots of this build exceed PIPELINE_MAX_INPUT_BYTES (${this.settings.maxInputBytes})`);
      const bytes = await store.get(objectNameFor(tenant, digest));
      if (!bytes) throw missing(`not in object store ${OBJECT_STORES.snapshots.bucket} at ${objectNameFor(tenant, digest)}`);
      if (sha256Digest(bytes) !== digest) throw missing(`stored bytes hash to ${sha256Digest(bytes)}`);
      out.push({ digest, mediaType: captured.data.mediaType, bytes });
      working();
    }
    return out;
  }

  /**
   * The `SnapshotCaptured` of `digest` for `tenant`, if captured. A snapshot's subject holds that
   * one event (ingest appends it with expected last subject sequence 0), so its last message is it:
   * one round trip; anything else there falls back to the full read of the aggregate.
   */
  private async capturedOf(tenant: string, digest: string): Promise<SnapshotCapturedEvent | undefined> {
    const last = await this.messaging.lastMessage(STREAMS.events.name, subjects.event(tenant, 'snapshot', digestHex(digest)));
    if (!last) return undefined;
    try {
      const event = parseEvent(last.data, last.subject);
      if (event.type === SnapshotCaptured.type) return event as SnapshotCapturedEvent;
    } catch {
      // the full read below reports an invalid stored event with its sequence
    }
    const { events } = await this.messaging.readAggregate(tenant, 'snapshot', digestHex(digest));
    return events.find((e): e is SnapshotCapturedEvent => e.type === SnapshotCaptured.type);
  }

  private async storePack(tenant: string, digest: string, bytes: Uint8Array): Promise<void> {
    const store = await this.messaging.blobs(OBJECT_STORES.packs.bucket);
    const name = objectNameFor(tenant, digest);
    const existing = await store.info(name);
    if (existing && existing.size === bytes.length) return; // content-addressed: same name, same bytes
    await store.put(name, bytes, { description: `koa-pack/1 ${digest}` });
  }
}

/**
 * Appends the events of one build in order, each guarded by the expected last subject sequence,
 * skipping events whose id is already on the subject (a previous attempt wrote them).
 */
class BuildWriter {
  private readonly written: Set<string>;

  constructor(
    private readonly messaging: Messaging,
    existing: readonly AnyKoaEvent[],
    private lastSequence: number,
  ) {
    this.written = new Set(existing.map((e) => e.id));
  }

  async append(event: KoaEvent): Promise<void> {
    if (this.written.has(event.id)) return;
    const [ack] = await this.messaging.append([event], { expectedLastSubjectSequence: this.lastSequence });
    this.lastSequence = ack.seq;
    this.written.add(event.id);
  }
}
