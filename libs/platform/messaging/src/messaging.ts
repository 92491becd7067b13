import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  KoaRefusal,
  OBJECT_STORES,
  STREAMS,
  dedupKey,
  isValidatedEvent,
  parseEvent,
  subjects as subjectsOf,
  type AggregateKind,
  type AnyKoaEvent,
  type KoaEvent,
  type StreamSpec,
} from '@koa/contracts';
import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamPublishOptions,
  type JsMsg,
  type MsgRequest,
  type StreamConfig,
} from '@nats-io/jetstream';
import { headers as natsHeaders, nanos, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import { Objm, setSha256Backend, type ObjectStore } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { ConcurrencyConflict, actualSequenceOf, isWrongLastSequence, redactUrl, translateBrokerError } from './errors';
import { injectTraceHeaders } from './tracing';

/** A message as stored in a stream (or delivered by a consumer): bytes, headers, stream sequence. */
export interface RawMessage {
  readonly subject: string;
  /** stream sequence */
  readonly seq: number;
  readonly data: Uint8Array;
  /** NATS headers, first value per key */
  readonly headers: Record<string, string>;
  /** ISO-8601 time the server stored the message */
  readonly time?: string;
}

/** Content-addressed blobs in a JetStream object store (bucket names come from `OBJECT_STORES`). */
export interface BlobStore {
  /**
   * stores (or replaces) `name`; streams the data in chunks. `sha256` is the lowercase hex SHA-256
   * of the bytes stored, as the object store computed it while chunking (its `SHA-256=` digest):
   * a caller that needs the content digest of a stream need not hash it a second time.
   */
  put(name: string, data: Uint8Array | ReadableStream<Uint8Array>, meta?: { description?: string }): Promise<{ name: string; size: number; sha256: string }>;
  /** the whole object (its SHA-256 is checked by the client), or undefined if absent */
  get(name: string): Promise<Uint8Array | undefined>;
  /** the object as a stream, or undefined if absent */
  getStream(name: string): Promise<ReadableStream<Uint8Array> | undefined>;
  info(name: string): Promise<{ name: string; size: number } | undefined>;
}

export interface ConnectOptions {
  /** e.g. `nats://127.0.0.1:4222` (credentials in the URL are redacted from messages) */
  readonly url: string;
  /** connection name shown by the server (`<service>` or `<service>-<instance>`) */
  readonly name: string;
  /** fail fast if the first connection is not up within this time; default 5000 */
  readonly connectTimeoutMs?: number;
}

export interface AppendOptions {
  /**
   * Optimistic concurrency: the last stream sequence the caller saw on the aggregate subject
   * (`readAggregate(...).lastSequence`; 0 = "the aggregate must not exist yet").
   */
  readonly expectedLastSubjectSequence?: number;
}

export interface PublishOptions {
  /** `Nats-Msg-Id`: de-duplication inside the stream's duplicate window */
  readonly msgId?: string;
  readonly headers?: Record<string, string>;
  readonly expectedLastSubjectSequence?: number;
}

export interface WatchOptions {
  readonly stream: string;
  readonly filterSubject: string;
  readonly deliver: 'last-per-subject' | 'new' | 'all';
  /**
   * Messages per pull request of the ordered consumer (its `max_messages`; the client asks for
   * more when half of them have been handed out). Default `WATCH_PAGE_SIZE`; a replay of a long
   * stream (ledger rebuild) reads faster with larger pages, a watch of a few notices needs none.
   */
  readonly pageSize?: number;
}

/** default `WatchOptions.pageSize` */
export const WATCH_PAGE_SIZE = 256;

/**
 * The longest aggregate `readAggregate` reads with gets (`last_by_subj` and `next_by_subj`, no
 * consumer); a longer one is read on with an ordered consumer (create, pull, delete: several round
 * trips and a consumer on the server, whatever the length).
 */
export const READ_WALK_MAX = 16;
/** ranges of the stretch between an aggregate's first and last event that `readAggregate` walks at once */
export const READ_RANGES = 4;

/** what `readAggregate` needs of a stored message */
interface StoredEvent {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
}

/** `parseEvent` of a stored event; a refusal names the subject and the sequence (`details.seq`). */
function parseStored(aggregateSubject: string, data: Uint8Array, subject: string, seq: number): AnyKoaEvent {
  try {
    return parseEvent(data, subject);
  } catch (e) {
    if (e instanceof KoaRefusal) throw new KoaRefusal(e.code, `${aggregateSubject} seq ${seq}: ${e.message}`, { ...e.details, seq }, { cause: e });
    throw e;
  }
}


/**
 * `koa.evt.<tenant>.<aggregate>.<id>` of an event `parseEvent` has validated (its `subject`
 * names the aggregate of its type): same result as `subjectOf`, without its catalog scan.
 */
function eventSubject(e: AnyKoaEvent): string {
  const slash = e.subject.indexOf('/');
  return subjectsOf.event(e.tenantid, e.subject.slice(0, slash) as AggregateKind, e.subject.slice(slash + 1));
}

/** NATS headers → plain record (first value per key). */
export function headersToRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

export function rawFromJsMsg(m: JsMsg): RawMessage {
  return { subject: m.subject, seq: m.seq, data: m.data, headers: headersToRecord(m.headers), time: m.time.toISOString() };
}

/** nats.js takes credentials as options, not in the URL: `nats://user:pass@host:port`. */
function splitCredentials(url: string): { server: string; user?: string; pass?: string } {
  const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(url);
  if (!m) return { server: url };
  const [user, pass] = m[2].split(':');
  return { server: `${m[1]}${m[3]}`, user: decodeURIComponent(user), pass: pass === undefined ? undefined : decodeURIComponent(pass) };
}

function toStreamConfig(spec: StreamSpec, replicas: number): Partial<StreamConfig> & { name: string } {
  return {
    name: spec.name,
    subjects: [...spec.subjects],
    description: spec.description,
    storage: spec.storage === 'file' ? StorageType.File : StorageType.Memory,
    deny_delete: spec.denyDelete,
    deny_purge: spec.denyPurge,
    duplicate_window: nanos(spec.duplicateWindowMs),
    max_msgs_per_subject: spec.maxMsgsPerSubject === 0 ? -1 : spec.maxMsgsPerSubject,
    max_age: nanos(spec.maxAgeMs),
    max_msg_size: spec.maxMsgSize,
    discard: DiscardPolicy.Old,
    allow_direct: true,
    num_replicas: replicas,
  };
}

/**
 * The one gateway to NATS JetStream (the only code in the repo that imports `@nats-io/*`).
 *
 * ```ts
 * const messaging = await Messaging.connect({ url: 'nats://127.0.0.1:4222', name: 'orgo-control' });
 * await messaging.ensureTopology();
 * const { events, lastSequence } = await messaging.readAggregate('acme', 'case', caseId);
 * const next = decide(events, command);                       // pure
 * await messaging.append(next, { expectedLastSubjectSequence: lastSequence }); // may throw ConcurrencyConflict
 * ```
 */
export class Messaging {
  private readonly log = new Logger('Messaging');
  private readonly watchers = new Set<{ stop(): Promise<void> }>();
  private readonly blobStores = new Map<string, Promise<BlobStore>>();
  private readonly objm: Objm;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly url: string,
  ) {
    this.objm = new Objm(nc);
  }

  /**
   * Connects; fails fast with `BROKER_UNAVAILABLE` (message names the URL) if the server cannot
   * be reached within `connectTimeoutMs` (default 5000). Once connected, reconnects forever.
   */
  static async connect(o: ConnectOptions): Promise<Messaging> {
    // object-store chunk digests with node:crypto instead of nats.js' pure-JS default (~5x faster on
    // large blobs; identical bytes). Process-wide and idempotent; this library only runs on Node.
    setSha256Backend('native');
    const timeout = o.connectTimeoutMs ?? 5000;
    const shown = redactUrl(o.url);
    let nc: NatsConnection;
    try {
      const { server, user, pass } = splitCredentials(o.url);
      nc = await connect({
        servers: server,
        ...(user !== undefined && { user, pass }),
        name: o.name,
        timeout,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        waitOnFirstConnect: false,
        pingInterval: 10_000,
        // nats.js otherwise captures a stack trace (an Error) per request, publish and confirmed
        // ack so that a timeout can point at its caller: measured as the largest single cost of
        // a pipelined append (docs/messaging.md "Performance"). Errors still name the subject.
        noAsyncTraces: true,
      });
    } catch (cause) {
      throw new KoaRefusal('BROKER_UNAVAILABLE', `cannot connect to NATS at ${shown} within ${timeout} ms: ${(cause as Error)?.message ?? cause}`, { url: shown }, { cause });
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout });
      const m = new Messaging(nc, jetstream(nc, { timeout }), jsm, shown);
      m.logStatus();
      return m;
    } catch (cause) {
      await nc.close().catch(() => undefined);
      throw new KoaRefusal('BROKER_UNAVAILABLE', `NATS at ${shown} has no usable JetStream: ${(cause as Error)?.message ?? cause}`, { url: shown }, { cause });
    }
  }

  private logStatus(): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') this.log.warn({ msg: `nats ${s.type}`, url: this.url });
      }
    })().catch(() => undefined);
  }

  /** The underlying connection (for the transport inside this lib; not part of the public API). */
  get connection(): NatsConnection {
    return this.nc;
  }

  /**
   * Applies `STREAMS` and `OBJECT_STORES` from `@koa/contracts` idempotently: creates what is
   * missing, updates what differs. `replicas` (default 1) is the JetStream replication factor
   * (R3 in a cluster). A configuration the server refuses ⇒ `CONFIG_INVALID`.
   */
  async ensureTopology(o: { replicas?: number } = {}): Promise<void> {
    const replicas = o.replicas ?? 1;
    for (const spec of Object.values(STREAMS) as StreamSpec[]) {
      const cfg = toStreamConfig(spec, replicas);
      try {
        let exists = true;
        try {
          await this.jsm.streams.info(spec.name);
        } catch (e) {
          if (e instanceof JetStreamApiError && e.code === 10059) exists = false;
          else throw e;
        }
        if (!exists) {
          try {
            await this.jsm.streams.add(cfg);
            continue;
          } catch (e) {
            // another replica created it first: fall through to update
            if (!(e instanceof JetStreamApiError && e.code === 10058)) throw e;
          }
        }
        const { name: _n, ...update } = cfg;
        await this.jsm.streams.update(spec.name, update);
      } catch (e) {
        if (e instanceof JetStreamApiError) {
          throw new KoaRefusal('CONFIG_INVALID', `stream ${spec.name}: the server refused its configuration (${e.code}): ${e.message}`, { stream: spec.name }, { cause: e });
        }
        throw translateBrokerError(e, `ensureTopology ${spec.name}`);
      }
    }
    for (const os of Object.values(OBJECT_STORES)) {
      try {
        await this.objm.create(os.bucket, { description: os.description, storage: StorageType.File, replicas });
      } catch (e) {
        // services boot together: a create racing another service's create of the same bucket can
        // be refused (10058 name in use / 10065 subjects overlap) although the bucket now exists
        if (e instanceof JetStreamApiError && (e.code === 10058 || e.code === 10065) && (await this.streamExists(`OBJ_${os.bucket}`))) continue;
        throw translateBrokerError(e, `ensureTopology object store ${os.bucket}`);
      }
    }
  }

  private async streamExists(name: string): Promise<boolean> {
    try {
      await this.jsm.streams.info(name);
      return true;
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === 10059) return false;
      throw e;
    }
  }

  /**
   * Appends events that all belong to ONE aggregate (same `subjectOf(event)`), in order.
   *
   * - Each event is validated with `parseEvent` first (a refusal throws before anything is sent),
   *   except objects `createEvent` returned: they were validated then and are deep-frozen since
   *   (`isValidatedEvent`), so they are not validated twice. A copy, a parsed JSON or a hand-built
   *   object is always validated.
   * - `Nats-Msg-Id` = `dedupKey(event)` (`source#id`): a retried append inside the stream's
   *   duplicate window is stored once and reported `duplicate: true` with the original sequence.
   * - With `expectedLastSubjectSequence`, the first publish carries
   *   `Nats-Expected-Last-Subject-Sequence: <expected>` and each next one expects the previous
   *   event's sequence. A mismatch ⇒ `ConcurrencyConflict` (`CONCURRENCY_CONFLICT`); nothing of
   *   this call is written beyond the events acknowledged before the conflicting one.
   * - The active trace context is written as `traceparent` header.
   * Broker trouble ⇒ `BROKER_UNAVAILABLE` (retry the whole call: msg ids make it safe).
   */
  async append(events: readonly KoaEvent[], o: AppendOptions = {}): Promise<Array<{ seq: number; duplicate: boolean }>> {
    if (events.length === 0) return [];
    // createEvent's results are validated and deep-frozen (the brand): validating them again cannot fail
    const parsed = events.map((e) => (isValidatedEvent(e) ? e : parseEvent(e)));
    const subject = eventSubject(parsed[0]);
    for (let i = 1; i < parsed.length; i++) {
      const s = eventSubject(parsed[i]);
      if (s !== subject) {
        throw new KoaRefusal('EVENT_SUBJECT_MISMATCH', `append: all events must share one aggregate subject; ${parsed[i].id} is on ${s}, not ${subject}`, { subject, other: s });
      }
    }
    let expected = o.expectedLastSubjectSequence;
    const acks: Array<{ seq: number; duplicate: boolean }> = [];
    for (const e of parsed) {
      const hdrs: Record<string, string> = {};
      injectTraceHeaders(hdrs, e.traceparent);
      // Buffer.from (a Uint8Array) encodes UTF-8 ~2x faster than TextEncoder for event-sized strings
      const ack = await this.publishInternal(subject, Buffer.from(JSON.stringify(e), 'utf8'), { msgId: dedupKey(e), headers: hdrs, expectedLastSubjectSequence: expected });
      acks.push(ack);
      if (expected !== undefined) expected = ack.seq;
    }
    return acks;
  }

  /**
   * Every event on one aggregate subject, in stream order, each validated (and upcast) by
   * `parseEvent`, plus the last stream sequence on that subject (0 if the aggregate has none) —
   * the value to pass as `expectedLastSubjectSequence` to the next `append`.
   * A stored event that fails validation throws its refusal (code from `parseEvent`, `details.seq`).
   */
  async readAggregate(tenant: string, aggregate: AggregateKind, id: string): Promise<{ events: AnyKoaEvent[]; lastSequence: number }> {
    const subject = subjectsOf.event(tenant, aggregate, id);
    const stream = STREAMS.events.name;
    try {
      // the subject's last sequence and its first event, at once (one round trip for 0 or 1 event)
      const [last, first] = await Promise.all([
        this.jsm.streams.getMessage(stream, { last_by_subj: subject }),
        this.nextOnSubject(stream, subject, 1),
      ]);
      if (!last) return { events: [], lastSequence: 0 };
      const lastSequence = last.seq;
      const events: AnyKoaEvent[] = [];
      if (first) {
        events.push(parseStored(subject, first.data, first.subject, first.seq));
        if (first.seq >= lastSequence) return { events, lastSequence };
        // the events between the first and the last, looked for in READ_RANGES stretches at once
        const between = await this.eventsBetween(stream, subject, first.seq, lastSequence);
        if (between) {
          for (const m of between) events.push(parseStored(subject, m.data, m.subject, m.seq));
          events.push(parseStored(subject, last.data, last.subject, last.seq));
          return { events, lastSequence };
        }
      }
      // a longer aggregate: the rest with one ordered consumer from the next sequence
      await this.readWithConsumer(stream, subject, (first?.seq ?? 0) + 1, lastSequence, events);
      return { events, lastSequence };
    } catch (e) {
      throw translateBrokerError(e, `readAggregate ${subject}`);
    }
  }

  /**
   * The first message on `subject` at or after stream sequence `seq`, or null: a `STREAM.MSG.GET`
   * with `next_by_subj` (nats-server 2.9+; answered by the stream leader, like `last_by_subj`,
   * never by a possibly lagging replica as a direct get may be).
   */
  private nextOnSubject(stream: string, subject: string, seq: number): Promise<StoredEvent | null> {
    // nats.js types STREAM.MSG.GET as seq | last_by_subj; the server also takes next_by_subj with seq
    return this.jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as MsgRequest);
  }

  /**
   * The events on `subject` strictly between stream sequences `after` and `before` (both events of
   * the subject), in stream order — or undefined if there are more than `READ_WALK_MAX - 2`. The
   * stretch is cut into up to `READ_RANGES` ranges walked at once, each with `next_by_subj` gets
   * from its start until a get lands at or past its end: every event of a range is found (each get
   * answers the first event at or after where it asks), so the ranges together find all of them,
   * in about `1 + events per range` round trips instead of one per event. The first gets of the
   * ranges also tell how dense the subject is: a stretch that looks like more than the limit gives
   * up at once (the consumer reads it) instead of walking until the limit. Either way the answer
   * is the same; only the number of round trips differs.
   */
  private async eventsBetween(stream: string, subject: string, after: number, before: number): Promise<StoredEvent[] | undefined> {
    const span = before - after - 1;
    if (span <= 0) return [];
    const ranges = Math.min(READ_RANGES, span);
    const starts = Array.from({ length: ranges }, (_, j) => after + 1 + Math.floor((j * span) / ranges));
    const ends = starts.map((_, j) => (j + 1 < ranges ? starts[j + 1] : before));
    const firsts = await Promise.all(starts.map((from) => this.nextOnSubject(stream, subject, from)));
    // a range whose first event lies `gap` sequences into it holds about width / (gap + 1) of them
    // (at most one more than it holds when its events are evenly spread)
    let estimate = 0;
    firsts.forEach((m, j) => {
      if (m && m.seq < ends[j]) estimate += (ends[j] - starts[j]) / (m.seq - starts[j] + 1);
    });
    if (estimate > READ_WALK_MAX + ranges) return undefined;
    const found: StoredEvent[] = [];
    let tooMany = false;
    const walk = async (m: StoredEvent | null, end: number): Promise<void> => {
      while (m && m.seq < end && !tooMany) {
        found.push(m);
        if (found.length > READ_WALK_MAX - 2) tooMany = true;
        else m = await this.nextOnSubject(stream, subject, m.seq + 1);
      }
    };
    await Promise.all(firsts.map((m, j) => walk(m, ends[j])));
    return tooMany ? undefined : found.sort((a, b) => a.seq - b.seq);
  }

  /** Appends to `events` every event on `subject` from stream sequence `from` up to `lastSequence` (ordered consumer). */
  private async readWithConsumer(stream: string, subject: string, from: number, lastSequence: number, events: AnyKoaEvent[]): Promise<void> {
    const consumer = await this.js.consumers.get(stream, { filter_subjects: subject, opt_start_seq: from });
    const iter = await consumer.consume({ max_messages: 256 });
    try {
      for await (const m of iter) {
        events.push(parseStored(subject, m.data, m.subject, m.seq));
        if (m.seq >= lastSequence) break;
      }
    } finally {
      await iter.close().catch(() => undefined);
      // not waited for: nothing here depends on it (an ephemeral consumer the server would also drop
      // after its inactive threshold)
      consumer.delete().catch(() => undefined);
    }
  }

  /**
   * JetStream publish of raw bytes (ingest, release notices, audit, DLQ): waits for the stream's
   * ack. `msgId` de-duplicates; `expectedLastSubjectSequence` guards the subject (conflict ⇒
   * `ConcurrencyConflict`). The active trace context is written as `traceparent`.
   */
  async publish(subject: string, payload: Uint8Array, o: PublishOptions = {}): Promise<{ seq: number; duplicate: boolean }> {
    const hdrs: Record<string, string> = { ...(o.headers ?? {}) };
    injectTraceHeaders(hdrs);
    return this.publishInternal(subject, payload, { ...o, headers: hdrs });
  }

  private async publishInternal(subject: string, payload: Uint8Array, o: PublishOptions): Promise<{ seq: number; duplicate: boolean }> {
    const opts: Partial<JetStreamPublishOptions> = {};
    if (o.headers) {
      let h: MsgHdrs | undefined;
      for (const k in o.headers) (h ??= natsHeaders()).set(k, o.headers[k]);
      if (h) opts.headers = h;
    }
    if (o.msgId !== undefined) opts.msgID = o.msgId;
    if (o.expectedLastSubjectSequence !== undefined) opts.expect = { lastSubjectSequence: o.expectedLastSubjectSequence };
    try {
      const ack = await this.js.publish(subject, payload, opts);
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (e) {
      if (isWrongLastSequence(e)) throw new ConcurrencyConflict(subject, o.expectedLastSubjectSequence ?? -1, actualSequenceOf(e), { cause: e });
      throw translateBrokerError(e, `publish ${subject}`);
    }
  }

  /** The last message stored on `subject` in `stream`, or undefined. */
  async lastMessage(stream: string, subject: string): Promise<RawMessage | undefined> {
    try {
      const m = await this.jsm.streams.getMessage(stream, { last_by_subj: subject });
      if (!m) return undefined;
      return { subject: m.subject, seq: m.seq, data: m.data, headers: headersToRecord(m.header), time: m.time.toISOString() };
    } catch (e) {
      throw translateBrokerError(e, `lastMessage ${stream} ${subject}`);
    }
  }

  /**
   * Follows `filterSubject` with an ordered ephemeral consumer (no acks; the client re-creates it
   * across reconnects and gaps). `deliver: 'last-per-subject'` first yields the last stored message
   * of every matching subject, then new ones. `onMessage` runs sequentially; if it throws, the
   * error is logged and the watch goes on. `stop()` ends the watch.
   */
  async watch(o: WatchOptions, onMessage: (m: RawMessage) => Promise<void> | void): Promise<{ stop(): Promise<void> }> {
    const deliver_policy =
      o.deliver === 'last-per-subject' ? DeliverPolicy.LastPerSubject : o.deliver === 'new' ? DeliverPolicy.New : DeliverPolicy.All;
    const pageSize = o.pageSize ?? WATCH_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1) throw new KoaRefusal('CONFIG_INVALID', `watch ${o.stream} ${o.filterSubject}: pageSize must be an integer >= 1, not ${pageSize}`, { pageSize });
    let iter: ConsumerMessages;
    try {
      const consumer = await this.js.consumers.get(o.stream, { filter_subjects: o.filterSubject, deliver_policy });
      iter = await consumer.consume({ max_messages: pageSize });
    } catch (e) {
      throw translateBrokerError(e, `watch ${o.stream} ${o.filterSubject}`);
    }
    const loop = (async () => {
      for await (const m of iter) {
        try {
          await onMessage(rawFromJsMsg(m));
        } catch (e) {
          this.log.error({ msg: 'watch handler failed', stream: o.stream, subject: m.subject, seq: m.seq, error: (e as Error)?.message });
        }
      }
    })();
    const handle = {
      stop: async () => {
        this.watchers.delete(handle);
        await iter.close().catch(() => undefined);
        await loop.catch(() => undefined);
      },
    };
    this.watchers.add(handle);
    return handle;
  }

  /**
   * The blob store for one of the `OBJECT_STORES` buckets (anything else ⇒ `CONFIG_INVALID`).
   * Opened once per bucket and kept (opening costs two round trips: account and stream info); a
   * failed open is forgotten, so the next call tries again.
   */
  blobs(bucket: string): Promise<BlobStore> {
    let opened = this.blobStores.get(bucket);
    if (!opened) {
      opened = this.openBlobs(bucket);
      this.blobStores.set(bucket, opened);
      opened.catch(() => {
        if (this.blobStores.get(bucket) === opened) this.blobStores.delete(bucket);
      });
    }
    return opened;
  }

  private async openBlobs(bucket: string): Promise<BlobStore> {
    if (!Object.values(OBJECT_STORES).some((b) => b.bucket === bucket)) {
      throw new KoaRefusal('CONFIG_INVALID', `object store bucket ${JSON.stringify(bucket)} is not one of OBJECT_STORES`, { bucket });
    }
    let os: ObjectStore;
    try {
      os = await this.objm.open(bucket);
    } catch (e) {
      throw translateBrokerError(e, `open object store ${bucket}`);
    }
    return new JetStreamBlobStore(os, bucket, this.jsm);
  }

  /** Readiness: true if the server answers a round trip within `timeoutMs` (default 2000). */
  async ping(timeoutMs = 2000): Promise<boolean> {
    if (this.nc.isClosed()) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.nc.rtt().then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops watchers, drains subscriptions and closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watchers].map((w) => w.stop()));
    if (this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close().catch(() => undefined);
    }
  }
}

/** `SHA-256=<base64url, padded>` (nats.js object-store digest) → lowercase hex; anything else ⇒ INTERNAL (never guess a digest). */
function sha256HexOf(digest: string): string {
  const prefix = 'SHA-256=';
  const bytes = digest.startsWith(prefix) ? Buffer.from(digest.slice(prefix.length), 'base64url') : Buffer.alloc(0);
  if (bytes.length !== 32) throw new KoaRefusal('INTERNAL', `object store reported an unexpected digest ${JSON.stringify(digest.slice(0, 80))}`);
  return bytes.toString('hex');
}

class JetStreamBlobStore implements BlobStore {
  constructor(
    private readonly os: ObjectStore,
    private readonly bucket: string,
    private readonly jsm: JetStreamManager,
  ) {}

  /**
   * The bytes of `name` when it is stored in ONE chunk (objects up to the chunk size, 128 KiB by
   * default — snapshots, small packs): its info, then that chunk with one get. Two round trips and
   * no consumer, where nats.js' `get` creates an ordered push consumer per read (and leaves it to
   * the server's inactivity threshold). The bytes are checked against the info's SHA-256 exactly
   * as nats.js checks them: bytes that do not match are answered as nats.js' error (an `Error`,
   * which `get` throws and `getStream`'s stream errors with). `null`: no such object. `undefined`:
   * not a one-chunk object, or it was replaced since its info was read — read it through nats.js.
   */
  private async oneChunk(name: string): Promise<Uint8Array | Error | null | undefined> {
    const info = await this.os.info(name);
    if (!info || info.deleted) return null;
    if (info.chunks !== 1 || info.size === 0 || info.options?.link || !info.digest.startsWith('SHA-256=')) return undefined;
    // a chunk subject is written once (a new nuid per put), so a direct get answers it whole or not at all
    const chunk = await this.jsm.direct.getMessage(`OBJ_${this.bucket}`, { last_by_subj: `$O.${this.bucket}.C.${info.nuid}` });
    const bytes = chunk?.data;
    if (!bytes || bytes.byteLength !== info.size) return undefined;
    const computed = createHash('sha256').update(bytes).digest();
    if (computed.toString('hex') !== sha256HexOf(info.digest)) {
      return new Error(`received a corrupt object, digests do not match\n  expected: ${info.digest}\n  computed: SHA-256 ${computed.toString('hex')}`);
    }
    return bytes;
  }

  async put(name: string, data: Uint8Array | ReadableStream<Uint8Array>, meta: { description?: string } = {}): Promise<{ name: string; size: number; sha256: string }> {
    try {
      const info =
        data instanceof Uint8Array
          ? await this.os.putBlob({ name, ...(meta.description !== undefined && { description: meta.description }) }, data)
          : await this.os.put({ name, ...(meta.description !== undefined && { description: meta.description }) }, data);
      return { name: info.name, size: info.size, sha256: sha256HexOf(info.digest) };
    } catch (e) {
      throw translateBrokerError(e, `blob put ${this.bucket}/${name}`);
    }
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    try {
      const one = await this.oneChunk(name);
      if (one instanceof Error) throw one;
      if (one !== undefined) return one ?? undefined;
      return (await this.os.getBlob(name)) ?? undefined;
    } catch (e) {
      throw translateBrokerError(e, `blob get ${this.bucket}/${name}`);
    }
  }

  async getStream(name: string): Promise<ReadableStream<Uint8Array> | undefined> {
    try {
      const one = await this.oneChunk(name);
      if (one === null) return undefined;
      if (one !== undefined) {
        return new ReadableStream<Uint8Array>({
          start(c) {
            if (one instanceof Error) return c.error(one);
            c.enqueue(one);
            c.close();
          },
        });
      }
      const r = await this.os.get(name);
      return r ? r.data : undefined;
    } catch (e) {
      throw translateBrokerError(e, `blob getStream ${this.bucket}/${name}`);
    }
  }

  async info(name: string): Promise<{ name: string; size: number } | undefined> {
    try {
      const i = await this.os.info(name);
      return i && !i.deleted ? { name: i.name, size: i.size } : undefined;
    } catch (e) {
      throw translateBrokerError(e, `blob info ${this.bucket}/${name}`);
    }
  }
}
