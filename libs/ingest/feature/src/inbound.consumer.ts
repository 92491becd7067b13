import { Controller, Inject, Logger, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { KoaRefusal, OBJECT_STORES, SnapshotCaptured, isKoaRefusal, type EventByType } from '@koa/contracts';
import { SnapshotReadModel } from '@koa/ingest/data-access';
import {
  ADAPTERS,
  decodeInbound,
  inboundAttemptId,
  measureContent,
  parseInboundSubject,
  provenanceInput,
  snapshotRejectedEvent,
  type InboundCapture,
} from '@koa/ingest/domain';
import { ConcurrencyConflict, KoaEventContext, KoaEventExceptionFilter, MESSAGING, type Messaging } from '@koa/platform/messaging';
import type { EntityManager } from '@koa/platform/persistence';
import { CLOCK, SERVICE_CONFIG, type Clock } from '@koa/platform/service';
import type { IngestConfig } from './config';
import { SnapshotService } from './snapshot.service';
import { UploadSpool, inMemoryContent, type ReceivedContent } from './spool';

/** Durable raw consumer of `koa.ingest.>` (stream KOA_INGEST). */
export const INGEST_INBOUND_DURABLE = 'ingest-gateway-inbound';
/** Durable event consumer of `koa.evt.*.snapshot.*` feeding the `ingest.snapshots` read model. */
export const INGEST_PROJECTION_DURABLE = 'ingest-gateway-snapshots';

/**
 * NATS side of ingest-gateway.
 *
 * Inbound (`koa.ingest.<tenant>.<source>`, untrusted): a valid message is captured exactly like an
 * upload (adapter `nats-publish`); an invalid one is recorded as `SnapshotRejected` on
 * `ingest/<attempt id>` with its refusal code and ACKED — the rejection is the record, never a
 * poison loop. Only a subject that names no valid tenant (nothing to attribute a record to) is
 * dead-lettered (SUBJECT_TOKEN_INVALID). Transient failures (broker, database) are retried (nak).
 */
@Controller()
@UseFilters(KoaEventExceptionFilter)
export class IngestEventsController {
  private readonly log = new Logger('IngestInbound');

  constructor(
    private readonly snapshots: SnapshotService,
    private readonly readModel: SnapshotReadModel,
    private readonly spool: UploadSpool,
    @Inject(MESSAGING) private readonly messaging: Messaging,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(SERVICE_CONFIG) private readonly config: IngestConfig,
  ) {}

  @EventPattern(INGEST_INBOUND_DURABLE)
  async onInbound(@Payload() _data: Uint8Array, @Ctx() ctx: KoaEventContext): Promise<void> {
    const raw = ctx.raw;
    const { tenant, source } = parseInboundSubject(raw.subject);
    const attemptId = inboundAttemptId(raw.seq, raw.headers['Nats-Msg-Id'] ?? raw.data);
    let inbound: InboundCapture | undefined;
    let content: ReceivedContent | undefined;
    try {
      inbound = decodeInbound(tenant, source, raw.data);
      const provenance = provenanceInput({ adapter: ADAPTERS.natsPublish, sourceRef: inbound.sourceRef, field: 'data.sourceRef' });
      content = await this.contentOf(inbound);
      const { digest, size } = content;
      const result = await this.snapshots.capture({
        tenant,
        source,
        mediaType: inbound.mediaType,
        bytes: content.bytes ?? content,
        digest,
        size,
        actor: inbound.actor,
        provenance,
        ...(inbound.message.reason !== undefined && { reason: inbound.message.reason }),
        ...(validTraceparent(inbound.message.traceparent) && { traceparent: inbound.message.traceparent }),
      });
      this.log.log({ msg: result.duplicate ? 'inbound duplicate' : 'inbound captured', tenant, source, digest, seq: raw.seq });
    } catch (e) {
      if (!isKoaRefusal(e) || e.retryable) throw e;
      await this.reject(tenant, source, attemptId, e, inbound, raw.data.byteLength);
    } finally {
      await content?.dispose();
    }
  }

  /** Projection of SnapshotCaptured into `ingest.snapshots`, inside the inbox transaction. */
  @EventPattern(SnapshotCaptured.type)
  async onCaptured(@Payload() event: EventByType<'io.koa.ingest.snapshot.captured.v1'>, @Ctx() ctx: KoaEventContext): Promise<void> {
    await this.readModel.apply(event, ctx.tx as EntityManager | undefined);
  }

  /** Inline bytes (≤ 1 MiB message) stay in memory; an objectRef is read as a stream into the spool. */
  private async contentOf(inbound: InboundCapture): Promise<ReceivedContent> {
    const max = this.config.MAX_INGEST_BYTES;
    if (inbound.content.kind === 'inline') {
      const bytes = inbound.content.bytes;
      return inMemoryContent(bytes, measureContent(bytes, max).digest);
    }
    const ref = inbound.content.objectRef;
    const blobs = await this.messaging.blobs(OBJECT_STORES.snapshots.bucket);
    const info = await blobs.info(ref);
    if (!info) throw new KoaRefusal('INGEST_OBJECT_NOT_FOUND', `data.objectRef ${JSON.stringify(ref)} is not in ${OBJECT_STORES.snapshots.bucket}`, { field: 'data.objectRef' });
    if (info.size > max) throw new KoaRefusal('INGEST_TOO_LARGE', `object ${ref} has ${info.size} bytes; the maximum is ${max}`, { maxBytes: max, size: info.size });
    const stream = await blobs.getStream(ref);
    if (!stream) throw new KoaRefusal('INGEST_OBJECT_NOT_FOUND', `data.objectRef ${JSON.stringify(ref)} disappeared while reading`, { field: 'data.objectRef' });
    return this.spool.receiveStream(stream, max);
  }

  private async reject(tenant: string, source: string, attemptId: string, refusal: KoaRefusal, inbound: InboundCapture | undefined, size: number): Promise<void> {
    const event = snapshotRejectedEvent(
      {
        id: `rej-${attemptId}`,
        time: this.clock.now().toISOString(),
        tenant,
        actor: inbound?.actor ?? `webhook:${source}`,
        ...(inbound?.message.reason !== undefined && { reason: inbound.message.reason }),
      },
      { attemptId, refusal, source, ...(inbound && { sourceRef: inbound.sourceRef }), size },
    );
    try {
      await this.messaging.append([event], { expectedLastSubjectSequence: 0 });
    } catch (e) {
      if (!(e instanceof ConcurrencyConflict)) throw e; // recorded by an earlier delivery
    }
    this.log.warn({ msg: 'inbound rejected', tenant, source, attemptId, code: refusal.code, reason: refusal.message });
  }
}

const validTraceparent = (t: string | undefined): t is string => t !== undefined && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(t);
