import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  KoaRefusal,
  OBJECT_STORES,
  STREAMS,
  digestHex,
  isKoaRefusal,
  parseEvent,
  subjects,
  type EventByType,
} from '@koa/contracts';
import { SnapshotReadModel, type SnapshotQuery, type SnapshotRecord } from '@koa/ingest/data-access';
import {
  sealSnapshotSet,
  snapshotCapturedEvent,
  snapshotSetSealedEvent,
  stampProvenance,
  type IngestMediaType,
  type ProvenanceInput,
} from '@koa/ingest/domain';
import { ConcurrencyConflict, MESSAGING, type Messaging } from '@koa/platform/messaging';
import { CLOCK, ID_FACTORY, type Clock, type IdFactory } from '@koa/platform/service';

type Captured = EventByType<'io.koa.ingest.snapshot.captured.v1'>;
type Sealed = EventByType<'io.koa.ingest.snapshotset.sealed.v1'>;

/**
 * Bytes that can be streamed as often as needed — a spool file (`ReceivedContent` of
 * `UploadSpool`) — so a large capture is stored without holding it in memory.
 */
export interface StreamableBytes {
  open(): ReadableStream<Uint8Array>;
}

/** What a capture needs: the measured bytes and who/why/how they came. */
export interface CaptureRequest {
  readonly tenant: string;
  readonly source: string;
  readonly mediaType: IngestMediaType;
  /** the content: in memory, or streamable (a spool file); the caller disposes of a spool file afterwards */
  readonly bytes: Uint8Array | StreamableBytes;
  /** `sha256:<hex>` of `bytes`, computed while reading */
  readonly digest: string;
  readonly size: number;
  readonly actor: string;
  readonly reason?: string;
  /** provenance without `capturedAt` (the service stamps it from the injected clock) */
  readonly provenance: ProvenanceInput;
  readonly traceparent?: string;
}

/** The answer to a capture: the snapshot as first recorded, and whether this call was a duplicate. */
export interface CaptureResult {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  /** true when the same bytes were already captured for this tenant (at any time before) */
  readonly duplicate: boolean;
  /** the SnapshotCaptured event of the first capture */
  readonly event: Captured;
}

export interface SealResult {
  readonly root: string;
  readonly digests: readonly string[];
  readonly label?: string;
  /** true when this set had been sealed before */
  readonly duplicate: boolean;
}

/**
 * Capture = store once, record once, with no time limit on de-duplication:
 *
 * 1. if `snapshot/<hex>` already has an event for the tenant ⇒ duplicate (nothing stored); one
 *    `last_by_subj` get answers it (the subject holds only the first capture);
 * 2. build and validate the SnapshotCaptured event (nothing is stored if it is refused), then put
 *    the bytes to `koa-snapshots` at `<tenant>/<hex>` — streamed when they are `StreamableBytes`,
 *    re-hashed on the way and refused INTERNAL (no event) unless the stored size and that hash
 *    match the request. Whatever is under that name already (a leftover of an interrupted
 *    capture, or anything else) is replaced by these bytes: a put of the same bytes under the
 *    digest name is idempotent, so no pre-check is made;
 * 3. append `SnapshotCaptured` with `expectedLastSubjectSequence: 0`; a `ConcurrencyConflict`
 *    (or a msg-id duplicate) means a concurrent capture won ⇒ duplicate, answered from the log.
 *
 * The event log is the de-duplication index: one subject per (tenant, digest), never expiring.
 * Within one process, captures of the same (tenant, digest) run one at a time (the later ones end
 * as duplicates at step 1); across replicas the append at step 3 decides.
 */
@Injectable()
export class SnapshotService {
  private readonly log = new Logger('SnapshotService');
  private readonly inFlight = new Map<string, Promise<CaptureResult>>();
  /** the snapshot bucket, opened once (opening costs two broker round trips); dropped after a failure */

  constructor(
    @Inject(MESSAGING) private readonly messaging: Messaging,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(ID_FACTORY) private readonly ids: IdFactory,
    private readonly readModel: SnapshotReadModel,
  ) {}

  async capture(req: CaptureRequest): Promise<CaptureResult> {
    // one capture per (tenant, digest) at a time in this process: a concurrent upload of the same
    // bytes waits and is then answered as a duplicate, instead of racing a second put of the
    // object (a reader of an object that is being replaced can wait forever for purged chunks)
    const key = `${req.tenant}/${req.digest}`;
    for (let running = this.inFlight.get(key); running; running = this.inFlight.get(key)) await running.catch(() => undefined);
    const attempt = this.captureOnce(req);
    this.inFlight.set(key, attempt);
    try {
      return await attempt;
    } finally {
      if (this.inFlight.get(key) === attempt) this.inFlight.delete(key);
    }
  }

  private async captureOnce(req: CaptureRequest): Promise<CaptureResult> {
    const hex = digestHex(req.digest);
    const existing = await this.firstCapture(req.tenant, hex);
    if (existing) return this.duplicateOf(existing);

    // build (and so validate) the event before storing anything: a refusal leaves nothing behind
    const capturedAt = this.clock.now().toISOString();
    const event = snapshotCapturedEvent(
      { id: this.ids.next(), time: capturedAt, tenant: req.tenant, actor: req.actor, ...(req.reason !== undefined && { reason: req.reason }), ...(req.traceparent !== undefined && { traceparent: req.traceparent }) },
      { digest: req.digest, size: req.size, mediaType: req.mediaType, source: req.source, provenance: stampProvenance(req.provenance, capturedAt) },
    );
    await this.store(event.data.objectName, req);

    try {
      const [ack] = await this.messaging.append([event], { expectedLastSubjectSequence: 0 });
      if (!ack.duplicate) {
        this.log.log({ msg: 'snapshot captured', tenant: req.tenant, digest: req.digest, size: req.size, source: req.source, adapter: req.provenance.adapter.name });
        return { digest: req.digest, size: req.size, mediaType: req.mediaType, duplicate: false, event };
      }
    } catch (e) {
      if (!(e instanceof ConcurrencyConflict)) throw e;
    }
    const first = await this.firstCapture(req.tenant, hex);
    if (!first) throw new KoaRefusal('INTERNAL', `snapshot ${req.digest}: append conflicted but no capture is recorded`);
    return this.duplicateOf(first);
  }

  /**
   * Puts the bytes (streamed when streamable) and checks what the store took: its size, and the
   * SHA-256 of the bytes it stored (`put(...).sha256`, the object store's own digest over the
   * chunks it wrote) against the digest the object is named by. Either mismatch ⇒ INTERNAL, no event.
   */
  private async store(name: string, req: CaptureRequest): Promise<void> {
    const blobs = await this.messaging.blobs(OBJECT_STORES.snapshots.bucket);
    const description = `${req.mediaType} from ${req.source}`;
    const stored = await blobs.put(name, req.bytes instanceof Uint8Array ? req.bytes : req.bytes.open(), { description });
    if (stored.size !== req.size || `sha256:${stored.sha256}` !== req.digest) {
      // the object under <tenant>/<hex> is not trusted by a later capture (it is replaced): no event names it
      throw new KoaRefusal('INTERNAL', `snapshot ${req.digest}: the object store took other bytes than were hashed (stored ${stored.size} of ${req.size} bytes, hashing to sha256:${stored.sha256})`, { digest: req.digest });
    }
  }

  /**
   * Seals a snapshot set: every digest must be a captured snapshot of the tenant (else
   * SNAPSHOT_NOT_FOUND naming the first missing digest); appends `SnapshotSetSealed` on
   * `snapshotset/<root hex>` once. Sealing the same digests again answers the recorded set.
   */
  async seal(args: { tenant: string; digests: unknown; label?: string; actor: string; reason?: string; traceparent?: string }): Promise<SealResult> {
    const set = sealSnapshotSet(args.digests);
    const missing = await this.missingSnapshots(args.tenant, set.digests);
    if (missing.length > 0) {
      throw new KoaRefusal('SNAPSHOT_NOT_FOUND', `snapshot ${missing[0]} is not captured for tenant ${args.tenant}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}`, { digest: missing[0], missing: missing.slice(0, 20) });
    }
    const existing = await this.readSet(args.tenant, digestHex(set.root));
    if (existing) return { ...existing, duplicate: true };
    const event = snapshotSetSealedEvent(
      { id: this.ids.next(), time: this.clock.now().toISOString(), tenant: args.tenant, actor: args.actor, ...(args.reason !== undefined && { reason: args.reason }), ...(args.traceparent !== undefined && { traceparent: args.traceparent }) },
      set,
      args.label,
    );
    try {
      const [ack] = await this.messaging.append([event], { expectedLastSubjectSequence: 0 });
      if (!ack.duplicate) return { root: set.root, digests: set.digests, ...(args.label !== undefined && { label: args.label }), duplicate: false };
    } catch (e) {
      if (!(e instanceof ConcurrencyConflict)) throw e;
    }
    const recorded = await this.readSet(args.tenant, digestHex(set.root));
    if (!recorded) throw new KoaRefusal('INTERNAL', `snapshot set ${set.root}: append conflicted but no seal is recorded`);
    return { ...recorded, duplicate: true };
  }

  /** A sealed set by root hex, or SNAPSHOT_NOT_FOUND. */
  async getSet(tenant: string, rootHex: string): Promise<Omit<SealResult, 'duplicate'>> {
    const set = await this.readSet(tenant, assertHex(rootHex));
    if (!set) throw new KoaRefusal('SNAPSHOT_NOT_FOUND', `no snapshot set sha256:${rootHex} is sealed for tenant ${tenant}`, { root: `sha256:${rootHex}` });
    return set;
  }

  /**
   * A snapshot's metadata and provenance: from the read model, else (read model still catching
   * up) from the event log; SNAPSHOT_NOT_FOUND when neither has it.
   */
  async get(tenant: string, hex: string): Promise<SnapshotRecord> {
    const digest = `sha256:${assertHex(hex)}`;
    const row = await this.readModel.get(tenant, digest);
    if (row) return row;
    const first = await this.firstCapture(tenant, hex);
    if (!first) throw new KoaRefusal('SNAPSHOT_NOT_FOUND', `snapshot ${digest} is not captured for tenant ${tenant}`, { digest });
    return recordOf(first);
  }

  list(tenant: string, query: SnapshotQuery): Promise<SnapshotRecord[]> {
    return this.readModel.list(tenant, query);
  }

  /**
   * The first SnapshotCaptured of (tenant, hex), or undefined. One `last_by_subj` get: the capture
   * is appended with expected sequence 0 and is the only event type of the aggregate, so the last
   * message is the first capture; anything else there falls back to reading the whole aggregate.
   */
  private async firstCapture(tenant: string, hex: string): Promise<Captured | undefined> {
    const subject = subjects.event(tenant, 'snapshot', hex);
    const last = await this.messaging.lastMessage(STREAMS.events.name, subject);
    if (!last) return undefined;
    const event = parseEvent(last.data, last.subject);
    if (event.type === 'io.koa.ingest.snapshot.captured.v1') return event;
    const { events } = await this.messaging.readAggregate(tenant, 'snapshot', hex);
    return events.find((e): e is Captured => e.type === 'io.koa.ingest.snapshot.captured.v1');
  }

  private async readSet(tenant: string, rootHex: string): Promise<Omit<SealResult, 'duplicate'> | undefined> {
    const { events } = await this.messaging.readAggregate(tenant, 'snapshotset', rootHex);
    const sealed = events.find((e): e is Sealed => e.type === 'io.koa.ingest.snapshotset.sealed.v1');
    return sealed && { root: sealed.data.root, digests: sealed.data.digests, ...(sealed.data.label !== undefined && { label: sealed.data.label }) };
  }

  /** Digests with no capture for the tenant: read model first, then the log for the rest (it may lag). */
  private async missingSnapshots(tenant: string, digests: readonly string[]): Promise<string[]> {
    const notInModel = await this.readModel.missing(tenant, digests);
    const missing: string[] = [];
    for (const d of notInModel) {
      try {
        const last = await this.messaging.lastMessage(STREAMS.events.name, subjects.event(tenant, 'snapshot', digestHex(d)));
        if (!last) missing.push(d);
      } catch (e) {
        if (isKoaRefusal(e)) throw e;
        throw new KoaRefusal('BROKER_UNAVAILABLE', `checking snapshot ${d}: ${(e as Error).message}`, {}, { cause: e });
      }
    }
    return missing;
  }

  private duplicateOf(first: Captured): CaptureResult {
    return { digest: first.data.digest, size: first.data.size, mediaType: first.data.mediaType, duplicate: true, event: first };
  }
}

function assertHex(hex: string): string {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new KoaRefusal('REQUEST_INVALID', `${JSON.stringify(hex.slice(0, 80))} is not 64 lower-case hex digits`, { field: 'hex' });
  return hex;
}

function recordOf(e: Captured): SnapshotRecord {
  return {
    tenant: e.tenantid,
    digest: e.data.digest,
    size: e.data.size,
    mediaType: e.data.mediaType,
    source: e.data.source,
    objectName: e.data.objectName,
    provenance: e.data.provenance,
    actor: e.actor,
    ...(e.reason !== undefined && { reason: e.reason }),
    eventId: e.id,
    capturedAt: e.data.provenance.capturedAt,
  };
}
