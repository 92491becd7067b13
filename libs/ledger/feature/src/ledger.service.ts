import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap } from '@nestjs/common';
import { assertToken, KoaRefusal, type AnyKoaEvent } from '@koa/contracts';
import { MESSAGING, type KoaEventContext, type Messaging } from '@koa/platform/messaging';
import { DataSource, EntityManager } from '@koa/platform/persistence';
import {
  appendToLedger,
  listEntries,
  loadCaseRecords,
  loadReleaseRecords,
  readHead,
  readProjectionStatus,
  rebuildProjections,
  verifyLedger,
  type AppendResult,
  type ProjectionStatus,
  type RebuildReport,
  type ReplaySource,
} from '@koa/ledger/data-access';
import { assertChainIntact, caseStory, checkpoint, releaseStory, type CaseStory, type Checkpoint, type LedgerEntry, type ReleaseStory } from '@koa/ledger/domain';
import { jetStreamReplaySource } from './replay-source';

/**
 * The ledger's use cases, shared by the event handler, the HTTP controller and the CLI (which
 * builds it with `new LedgerService(dataSource, messaging?)`).
 */
@Injectable()
export class LedgerService implements OnApplicationBootstrap {
  private readonly log = new Logger('Ledger');

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Optional() @Inject(MESSAGING) private readonly messaging?: Messaging,
  ) {}

  /** Warns when stored projections were written by another projection version (a rebuild is due). */
  async onApplicationBootstrap(): Promise<void> {
    const stale = (await this.projectionStatus()).filter((p) => p.lastSeq > 0 && p.version !== p.codeVersion);
    if (stale.length) {
      this.log.warn({ msg: 'projections were written by another version: POST /v1/admin/projections/rebuild', projections: stale.map((p) => `${p.name} v${p.version} -> v${p.codeVersion}`) });
    }
  }

  /**
   * Records one delivered event: chain append + projections in ONE transaction: the inbox
   * transaction (`ctx.tx`) when the transport has an inbox, else a transaction of our own.
   */
  async record(event: AnyKoaEvent, ctx: Pick<KoaEventContext, 'raw' | 'tx'>): Promise<AppendResult> {
    const text = Buffer.from(ctx.raw.data.buffer, ctx.raw.data.byteOffset, ctx.raw.data.byteLength).toString('utf8');
    const stored = JSON.parse(text);
    const work = (em: EntityManager) => appendToLedger(em, { seq: ctx.raw.seq, subject: ctx.raw.subject, stored, event });
    const result = ctx.tx instanceof EntityManager ? await work(ctx.tx) : await this.ds.transaction(work);
    if (result.appended) this.log.debug?.({ msg: 'recorded', seq: ctx.raw.seq, position: result.position, type: event.type, tenant: event.tenantid });
    else this.log.debug?.({ msg: 'already recorded', seq: ctx.raw.seq, position: result.position });
    return result;
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
