import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { assertToken, KoaRefusal, STREAMS, type AnyKoaEvent } from '@koa/contracts';
import { MESSAGING, type KoaEventContext, type Messaging } from '@koa/platform/messaging';
import { DataSource, EntityManager } from '@koa/platform/persistence';
import {
  appendParked,
  appendToLedger,
  listEntries,
  loadCaseRecords,
  loadReleaseRecords,
  readHead,
  readProjectionStatus,
  rebuildProjections,
  verifyLedger,
  type AppendFence,
  type AppendResult,
  type ProjectionStatus,
  type RebuildReport,
  type ReplaySource,
} from '@koa/ledger/data-access';
import { assertChainIntact, caseStory, checkpoint, releaseStory, type CaseStory, type Checkpoint, type LedgerEntry, type ReleaseStory } from '@koa/ledger/domain';
import { ackFloorFence } from './ack-floor-fence';
import { jetStreamReplaySource } from './replay-source';

/** The durable consumer name of the ledger. */
export const LEDGER_DURABLE = 'audit-ledger';
/** How often a replica looks for parked messages that can be appended without waiting for a delivery. */
export const PARKED_CHECK_MS = 1_000;

/**
 * The ledger's use cases, shared by the event handler, the HTTP controller and the CLI (which
 * builds it with `new LedgerService(dataSource, messaging?)`).
 */
@Injectable()
export class LedgerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Ledger');
  /** stream order across batches and replicas: an append after a gap waits for the gap to be decided */
  private readonly fence: AppendFence;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Optional() @Inject(MESSAGING) private readonly messaging?: Messaging,
  ) {
    this.fence = ackFloorFence(messaging, STREAMS.events.name, LEDGER_DURABLE);
  }

  private parkedTimer?: NodeJS.Timeout;
  private parkedRun?: Promise<unknown>;

  /**
   * Warns when stored projections were written by another projection version (a rebuild is due),
   * and starts appending parked messages whose gap was decided without an append behind it
   * (e.g. the message they waited for was dead-lettered), every `PARKED_CHECK_MS`.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.messaging) {
      this.parkedTimer = setInterval(() => {
        if (this.parkedRun) return;
        this.parkedRun = appendParked(this.ds, this.fence)
          .then((n) => n > 0 && this.log.log({ msg: 'appended parked messages', count: n }))
          .catch((e: unknown) => this.log.warn({ msg: 'appending parked messages failed; retried', error: String(e) }))
          .finally(() => (this.parkedRun = undefined));
      }, PARKED_CHECK_MS);
      this.parkedTimer.unref();
    }
    const stale = (await this.projectionStatus()).filter((p) => p.lastSeq > 0 && p.version !== p.codeVersion);
    if (stale.length) {
      this.log.warn({ msg: 'projections were written by another version: POST /v1/admin/projections/rebuild', projections: stale.map((p) => `${p.name} v${p.version} -> v${p.codeVersion}`) });
    }
  }

  /**
   * Records one delivered event: chain append + projections in ONE transaction: the inbox
   * transaction (`ctx.tx`, shared by a whole batch, which then locks the head once) when the
   * transport has an inbox, else a transaction of our own. A delivery that is ahead of an
   * undecided message is parked and appended right after it (see `appendToLedger`).
   */
  async record(event: AnyKoaEvent, ctx: Pick<KoaEventContext, 'raw' | 'tx'>): Promise<AppendResult> {
    const text = Buffer.from(ctx.raw.data.buffer, ctx.raw.data.byteOffset, ctx.raw.data.byteLength).toString('utf8');
    const stored = JSON.parse(text);
    const work = (em: EntityManager) => appendToLedger(em, { seq: ctx.raw.seq, subject: ctx.raw.subject, stored, event }, this.fence);
    const result = ctx.tx instanceof EntityManager ? await work(ctx.tx) : await this.ds.transaction(work);
    if (result.appended) this.log.debug?.({ msg: 'recorded', seq: ctx.raw.seq, position: result.position, type: event.type, tenant: event.tenantid });
    else if ('parked' in result) this.log.debug?.({ msg: 'parked until the messages before it are recorded', seq: ctx.raw.seq });
    else this.log.debug?.({ msg: 'already recorded', seq: ctx.raw.seq, position: result.position });
    return result;
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.parkedTimer);
    await this.parkedRun;
  }

  /** The release story; RELEASE_NOT_FOUND if the release is unknown to the ledger. */
  async releaseStory(tenant: string, releaseId: string): Promise<ReleaseStory> {
    return releaseStory(await loadReleaseRecords(this.ds, assertToken('tenant', tenant), assertToken('id', releaseId)));
  }

  /** The Case story; CASE_NOT_FOUND if the Case is unknown to the ledger. */
  async caseStory(tenant: string, caseId: string): Promise<CaseStory> {
    return caseStory(await loadCaseRecords(this.ds, assertToken('tenant', tenant), assertToken('id', caseId)));
  }

  /** Verifies the whole chain; throws LEDGER_CHAIN_BROKEN (details: index, seq, reason) if broken. */
  async verify(): Promise<{ ok: true; size: number; headHash: string; headSeq: number }> {
    return assertChainIntact(await verifyLedger(this.ds));
  }

  /** Entries in chain order (for independent verification and audits). */
  async entries(o: { from?: number; limit?: number; tenant?: string }): Promise<Array<LedgerEntry & { position: number }>> {
    if (o.tenant !== undefined) assertToken('tenant', o.tenant);
    return listEntries(this.ds, o);
  }

  /** The RFC 6962 checkpoint over every entry (the seam for signed checkpoints). */
  async checkpoint(): Promise<Checkpoint & { headSeq: number }> {
    const head = await readHead(this.ds);
    const rows: Array<{ entry_hash: string }> = await this.ds.query('SELECT entry_hash FROM ledger.entries WHERE position < $1 ORDER BY position', [head.size]);
    return { ...checkpoint(rows.map((r) => ({ entryHash: r.entry_hash as LedgerEntry['entryHash'] }))), headSeq: head.lastSeq };
  }

  async projectionStatus(): Promise<ProjectionStatus[]> {
    return readProjectionStatus(this.ds);
  }

  /**
   * Truncates every projection and replays KOA_EVENTS from sequence 1 up to the ledger head
   * (see `rebuildProjections`). Needs NATS (BROKER_UNAVAILABLE without a Messaging).
   */
  async rebuild(source?: ReplaySource): Promise<RebuildReport> {
    const replay = source ?? (this.messaging ? jetStreamReplaySource(this.messaging) : undefined);
    if (!replay) throw new KoaRefusal('BROKER_UNAVAILABLE', 'rebuild needs NATS (NATS_URL) to replay KOA_EVENTS');
    const started = Date.now();
    const report = await rebuildProjections(this.ds, replay);
    this.log.log({ msg: 'projections rebuilt', ...report, durationMs: Date.now() - started });
    return report;
  }
}
