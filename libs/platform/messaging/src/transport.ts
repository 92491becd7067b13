import { Logger } from '@nestjs/common';
import { Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import { CONSUMER_DEFAULTS, KoaRefusal, STREAMS, dedupKey, isKoaRefusal, parseEvent, subjects, type AnyKoaEvent } from '@koa/contracts';
import { AckPolicy, DeliverPolicy, JetStreamApiError, type Consumer, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { SpanKind, SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import { isObservable, lastValueFrom } from 'rxjs';
import { KoaEventContext } from './context';
import { decideDisposition, describeError } from './disposition';
import { translateBrokerError } from './errors';
import type { InboxBatchOutcome, InboxStore } from './inbox';
import { rawFromJsMsg, type Messaging, type RawMessage } from './messaging';
import { extractTraceContext, tracer } from './tracing';

/** One durable JetStream pull consumer served by the transport. */
export interface ConsumerSpec {
  /** durable consumer name, also the inbox consumer key and the dead-letter subject token, e.g. `orgo-control` */
  readonly durable: string;
  /** default `STREAMS.events.name` (KOA_EVENTS) */
  readonly stream?: string;
  /** ONE filter subject (nats-server 2.9), e.g. `filters.allEvents` or `filters.aggregate('case')` */
  readonly filterSubject: string;
  /**
   * `'event'` (default): each delivery is validated with `parseEvent(data, subject)` and
   * dispatched to the `@EventPattern(<event type>)` handler; `'raw'`: the bytes go to the handler
   * whose pattern equals `durable` (e.g. ingest messages).
   */
  readonly kind?: 'event' | 'raw';
  /** default `CONSUMER_DEFAULTS.ackWaitMs` */
  readonly ackWaitMs?: number;
  /** client-side attempt budget; the server's `max_deliver` is set to this + 1 as a backstop. Default `CONSUMER_DEFAULTS.maxDeliver` */
  readonly maxDeliver?: number;
  /** nak delay by attempt (1-based, last repeats). Default `CONSUMER_DEFAULTS.backoffMs` */
  readonly backoffMs?: readonly number[];
  /** default `CONSUMER_DEFAULTS.maxAckPending` */
  readonly maxAckPending?: number;
  /**
   * Messages per pull request and per inbox transaction (default `DEFAULT_BATCH` = 256). A batch
   * is handled in stream order, in ONE database transaction with a savepoint per message, and
   * acked after the commit. Every message's ack deadline (`ackWaitMs`) starts at delivery, so
   * the whole batch must finish within it: consumers with long handlers (builds, release tasks)
   * set `batch: 1` and call `ctx.working()` (which extends every message of the batch).
   */
  readonly batch?: number;
}

export interface JetStreamTransportOptions {
  readonly messaging: Messaging;
  /** used in logs and span attributes */
  readonly serviceName: string;
  readonly consumers: ConsumerSpec[];
  /** idempotency with no time limit: handlers run inside `inbox.runOnce(durable, key, tx => ...)` */
  readonly inbox?: InboxStore;
}

type ResolvedSpec = Required<Omit<ConsumerSpec, 'backoffMs'>> & { backoffMs: readonly number[] };

const FETCH_EXPIRES_MS = 2_000;
/**
 * default `ConsumerSpec.batch`: one pull and one inbox commit per up to 256 messages (= the default
 * `maxAckPending`; measured ~25% faster than 128 and ~2× faster than 64 on a loaded 2-core machine, docs/messaging.md §7)
 */
export const DEFAULT_BATCH = 256;
const NEST_GENERIC_ERROR = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && !(e instanceof Error) && (e as { status?: unknown }).status === 'error';

/**
 * NestJS custom transport over JetStream durable PULL consumers.
 *
 * ```ts
 * const app = await NestFactory.createMicroservice(AppModule, {
 *   strategy: new JetStreamTransport({ messaging, serviceName: 'orgo-control', inbox,
 *     consumers: [{ durable: 'orgo-control', filterSubject: filters.allEvents }] }),
 * });
 * app.useGlobalFilters(new KoaEventExceptionFilter());
 * await app.listen();
 * ```
 *
 * Per consumer, batches of up to `batch` deliveries (what one pull request returned), one batch
 * at a time, each message in stream order:
 * 1. delivery count beyond `maxDeliver` (earlier attempts crashed) ⇒ dead-letter `MAX_DELIVER_EXCEEDED`;
 * 2. kind 'event': `parseEvent(data, subject)`; invalid ⇒ dead-letter with its refusal code;
 *    no handler for the type ⇒ ack (skip);
 * 3. the handlers run in order, each inside its extracted trace context (CONSUMER span
 *    `koa.consume <type>`) and, with an inbox, all inside ONE transaction
 *    (`inbox.runBatch(durable, keys, ...)`, a savepoint per message; duplicate ⇒ ack, not run);
 * 4. a handler failure rolls back its own savepoint only and goes to `decideDisposition`:
 *    nak(backoff) or dead-letter (record published to `koa.dlq.<durable>` FIRST, then `term()`;
 *    if that publish fails, nak — nothing is ever lost); its neighbours go on;
 * 5. the transaction commits once; only then are the successes acked (no per-message
 *    confirmation: one flush round trip for the batch; a lost ack is a redelivery the inbox
 *    absorbs). A failed begin/commit acks nothing: every message of the batch is nak'd (or
 *    dead-lettered on its last attempt) and the next batches take one message at a time until one commits.
 * `close()` (Nest calls it on `app.close()`) stops fetching, lets the in-flight batch finish,
 * commit and ack, hands back (nak) what was delivered but not started, then returns.
 */
export class JetStreamTransport extends Server implements CustomTransportStrategy {
  private readonly log = new Logger('JetStreamTransport');
  private readonly workers: ConsumerWorker[] = [];
  private readonly specs: ResolvedSpec[];

  constructor(private readonly o: JetStreamTransportOptions) {
    super();
    this.specs = o.consumers.map((c) => ({
      durable: c.durable,
      stream: c.stream ?? STREAMS.events.name,
      filterSubject: c.filterSubject,
      kind: c.kind ?? 'event',
      ackWaitMs: c.ackWaitMs ?? CONSUMER_DEFAULTS.ackWaitMs,
      maxDeliver: c.maxDeliver ?? CONSUMER_DEFAULTS.maxDeliver,
      backoffMs: c.backoffMs ?? CONSUMER_DEFAULTS.backoffMs,
      maxAckPending: c.maxAckPending ?? CONSUMER_DEFAULTS.maxAckPending,
      batch: c.batch ?? DEFAULT_BATCH,
    }));
    const names = new Set<string>();
    for (const s of this.specs) {
      subjects.deadLetter(s.durable); // validates the token
      if (names.has(`${s.stream}/${s.durable}`)) throw new KoaRefusal('CONFIG_INVALID', `consumer ${s.durable} on ${s.stream} is declared twice`, { durable: s.durable });
      names.add(`${s.stream}/${s.durable}`);
      if (!Number.isInteger(s.batch) || s.batch < 1) throw new KoaRefusal('CONFIG_INVALID', `consumer ${s.durable}: batch must be an integer >= 1, not ${s.batch}`, { durable: s.durable });
      if (s.maxDeliver < 1) throw new KoaRefusal('CONFIG_INVALID', `consumer ${s.durable}: maxDeliver must be >= 1`, { durable: s.durable });
    }
  }

  /** Creates/updates the durable consumers and starts consuming; reports failure through `callback(err)`. */
  async listen(callback: (...optionalParams: unknown[]) => unknown): Promise<void> {
    try {
      for (const spec of this.specs) {
        if (spec.kind === 'raw' && !this.getHandlerByPattern(spec.durable)) {
          throw new KoaRefusal('CONFIG_INVALID', `raw consumer ${spec.durable} has no @EventPattern('${spec.durable}') handler`, { durable: spec.durable });
        }
      }
      for (const spec of this.specs) {
        const w = new ConsumerWorker(spec, this.o, (p) => this.getHandlerByPattern(p), this.log);
        await w.start();
        this.workers.push(w);
      }
      this.log.log({ msg: 'consuming', service: this.o.serviceName, consumers: this.specs.map((s) => `${s.stream}/${s.durable} ${s.filterSubject}`) });
      callback();
    } catch (e) {
      await Promise.all(this.workers.map((w) => w.stop()));
      callback(e);
    }
  }

  /** Stops fetching, waits for in-flight handlers (which ack), then returns. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    this.workers.length = 0;
  }

  on(): void {
    this.log.warn('JetStreamTransport does not emit events; on() is ignored');
  }

  unwrap<T>(): T {
    return this.o.messaging as T;
  }
}

/** A message as queued: kind 'event' messages are validated on arrival (`parseEvent`). */
interface Delivered {
  readonly m: JsMsg;
  readonly parsed?: { readonly event: AnyKoaEvent } | { readonly error: unknown };
}

/** One delivery of a batch on its way through the worker. */
interface Item {
  readonly m: JsMsg;
  readonly raw: RawMessage;
  readonly event: AnyKoaEvent | undefined;
  readonly handler: MessageHandler;
  readonly key: string;
  /** the delivery count */
  readonly attempt: number;
}

/** A handler's own error, told apart from the inbox's infrastructure errors. */
class HandlerFailure {
  constructor(readonly error: unknown) {}
}

class ConsumerWorker {
  private stopping = false;
  private current?: ConsumerMessages;
  private producer?: Promise<void>;
  private processor?: Promise<void>;
  private wakeProducer?: () => void;
  private wakeProcessor?: () => void;
  private consumer?: Consumer;
  /** delivered, not yet taken by the processor (at most ~2 batches: the pull being filled and the one processing) */
  private readonly queue: Delivered[] = [];
  /** after an infrastructure failure of a whole batch, take one message at a time until a batch commits */
  private limit: number;
  /** Nest's pattern lookup normalises the pattern on every call: once per event type is enough */
  private readonly handlers = new Map<string, MessageHandler | null>();
  /** the flush that confirms the last batch's acks (awaited before the next batch's, and by stop()) */
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly spec: ResolvedSpec,
    private readonly o: JetStreamTransportOptions,
    private readonly handlerFor: (pattern: string) => MessageHandler | null,
    private readonly log: Logger,
  ) {
    this.limit = spec.batch;
  }

  async start(): Promise<void> {
    await this.ensureConsumer();
    this.producer = this.produce();
    this.processor = this.process();
  }

  private async ensureConsumer(): Promise<void> {
    const { jsm, js } = this.o.messaging;
    const s = this.spec;
    const editable = { ack_wait: nanos(s.ackWaitMs), max_deliver: s.maxDeliver + 1, max_ack_pending: s.maxAckPending };
    try {
      let info;
      try {
        info = await jsm.consumers.info(s.stream, s.durable);
      } catch (e) {
        if (!(e instanceof JetStreamApiError && e.code === 10014)) throw e;
      }
      if (!info) {
        try {
          await jsm.consumers.add(s.stream, {
            durable_name: s.durable,
            filter_subject: s.filterSubject,
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.All,
            description: `${this.o.serviceName}: ${s.kind} consumer`,
            ...editable,
          });
        } catch (e) {
          if (!(e instanceof JetStreamApiError)) throw e;
          info = await jsm.consumers.info(s.stream, s.durable); // created concurrently by another replica
        }
      }
      if (info) {
        if ((info.config.filter_subject ?? '') !== s.filterSubject) {
          throw new KoaRefusal('CONFIG_INVALID', `durable ${s.durable} on ${s.stream} exists with filter ${info.config.filter_subject}, not ${s.filterSubject}; use a new durable name`, { durable: s.durable });
        }
        if (info.config.ack_wait !== editable.ack_wait || info.config.max_deliver !== editable.max_deliver || info.config.max_ack_pending !== editable.max_ack_pending) {
          await jsm.consumers.update(s.stream, s.durable, editable);
        }
      }
      this.consumer = await js.consumers.get(s.stream, s.durable);
    } catch (e) {
      if (isKoaRefusal(e)) throw e;
      if (e instanceof JetStreamApiError) throw new KoaRefusal('CONFIG_INVALID', `durable ${s.durable} on ${s.stream}: the server refused it (${e.code}): ${e.message}`, { durable: s.durable }, { cause: e });
      throw translateBrokerError(e, `ensure consumer ${s.durable}`);
    }
  }

  /** Pulls up to `batch` messages per request into the queue; the next pull waits until the processor has taken the queue. */
  private async produce(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if (this.queue.length > 0) {
          await new Promise<void>((resolve) => (this.wakeProducer = resolve));
          continue;
        }
        if (!this.consumer || failures > 0) await this.ensureConsumer();
        const consumer = this.consumer;
        if (!consumer) throw new Error('consumer not ready');
        const iter = await consumer.fetch({ max_messages: this.spec.batch, expires: FETCH_EXPIRES_MS });
        this.current = iter;
        if (this.stopping) await iter.close();
        for await (const m of iter) {
          this.queue.push(this.delivered(m));
          this.wakeProcessor?.();
        }
        failures = 0;
      } catch (e) {
        if (this.stopping) break;
        failures++;
        this.log.warn({ msg: 'fetch failed; retrying', consumer: this.spec.durable, attempt: failures, error: describeError(e) });
        await this.sleep(Math.min(100 * 2 ** failures, 5_000));
      } finally {
        this.current = undefined;
      }
    }
  }

  /** Takes what has arrived (up to `batch`), processes it as one batch, in stream order; repeats. */
  private async process(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) {
        if (this.stopping) return;
        await new Promise<void>((resolve) => (this.wakeProcessor = resolve));
        this.wakeProcessor = undefined;
        continue;
      }
      if (this.stopping) {
        // delivered but not started: hand them back at once (the in-flight batch has finished)
        for (const d of this.queue.splice(0)) d.m.nak();
        continue;
      }
      // let the messages that arrived in the same network read reach the queue first (the
      // client hands them over one microtask at a time): they join this batch
      if (this.queue.length < this.limit) await new Promise<void>((resolve) => setImmediate(resolve));
      const batch = this.queue.splice(0, this.batchLength());
      if (this.queue.length === 0) this.wakeProducer?.();
      try {
        await this.processBatch(batch);
      } catch (e) {
        // processBatch decides every message itself; this is a bug guard: nothing is acked
        this.log.error({ msg: 'batch failed unexpectedly; nak', consumer: this.spec.durable, error: describeError(e) });
        for (const d of batch) d.m.nak(this.spec.backoffMs[0] ?? 0);
      }
    }
  }

  /**
   * How many queued messages form the next batch: up to `limit`, but a redelivered message
   * (delivery count > 1: a nak, an expired ack deadline or a crash) goes in a batch of its own, so
   * a message that kills the process spends only its own delivery budget, not its neighbours'.
   */
  private batchLength(): number {
    let n = 0;
    while (n < this.queue.length && n < this.limit) {
      if (this.queue[n].m.info.deliveryCount > 1) return n === 0 ? 1 : n;
      n++;
    }
    return n;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeProducer?.();
    this.wakeProcessor?.();
    this.wakeSleep?.();
    await this.current?.close().catch(() => undefined);
    await this.producer;
    this.wakeProcessor?.();
    await this.processor;
    await this.flushing;
  }

  private wakeSleep?: () => void;

  /** setTimeout that stop() cuts short */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeSleep = done;
    });
  }

  /**
   * One batch, in stream order. Decisions that need no handler (max-deliver backstop, schema
   * refusal, no handler) are taken first; the handlers then run in ONE inbox transaction, a
   * savepoint each; the successes are acked only after the commit (one flush for the batch).
   */
  private async processBatch(batch: Delivered[]): Promise<void> {
    const s = this.spec;
    const acks: JsMsg[] = [];
    const items: Item[] = [];
    const msgs = batch.map((d) => d.m);
    for (const d of batch) {
      const item = await this.admit(d, acks);
      if (item) items.push(item);
    }
    // every message of the batch stays alive while a long handler reports progress (ctx.working())
    // and, automatically, while the batch makes progress: each finished handler extends the
    // deadline of the messages still waiting (at most every ackWait/3). A hung handler makes no
    // progress, so its batch is redelivered after ack_wait as before.
    let kept = Date.now();
    const keepAlive = () => {
      kept = Date.now();
      for (const m of msgs) m.working();
    };
    const progressed = () => {
      if (Date.now() - kept > s.ackWaitMs / 3) keepAlive();
    };
    if (items.length > 0) {
      const outcomes = await this.runItems(items, keepAlive, progressed);
      if (!outcomes) {
        // begin/record/commit failed: nothing of the batch is durable, so nothing of it is acked
        for (const it of items) await this.fail(it.m, it.raw, this.batchError, it.attempt);
      } else {
        for (let i = 0; i < items.length; i++) {
          const it = items[i];
          const o = outcomes[i];
          if (o.status === 'failed') await this.fail(it.m, it.raw, o.error, it.attempt);
          else {
            if (o.status === 'duplicate') this.log.debug?.({ msg: 'duplicate (inbox); acked without running', consumer: s.durable, key: it.key, seq: it.m.seq });
            acks.push(it.m);
          }
        }
      }
    }
    this.ackAll(acks);
  }

  private batchError: unknown;

  /**
   * Runs the handlers in order: with an inbox in ONE transaction (`runBatch`; a single item uses
   * `runOnce`, which needs no savepoint); returns undefined if that transaction failed as a whole
   * (`batchError` says why), after which the next batches take one message at a time until one commits.
   */
  private async runItems(items: Item[], keepAlive: () => void, progressed: () => void): Promise<Array<InboxBatchOutcome<void>> | undefined> {
    const s = this.spec;
    const inbox = this.o.inbox;
    const run = async (i: number, tx: unknown): Promise<void> => {
      try {
        await this.runHandler(items[i], tx, keepAlive);
      } catch (e) {
        throw new HandlerFailure(normalizeHandlerError(e));
      } finally {
        progressed();
      }
    };
    if (!inbox) {
      const out: Array<InboxBatchOutcome<void>> = [];
      for (let i = 0; i < items.length; i++) {
        try {
          out.push({ status: 'done', value: await run(i, undefined) });
        } catch (e) {
          out.push({ status: 'failed', error: (e as HandlerFailure).error });
        }
      }
      return out;
    }
    try {
      let out: Array<InboxBatchOutcome<void>>;
      if (items.length === 1) {
        try {
          const r = await inbox.runOnce(s.durable, items[0].key, (tx) => run(0, tx));
          out = [r.duplicate ? { status: 'duplicate' } : { status: 'done', value: undefined }];
        } catch (e) {
          if (!(e instanceof HandlerFailure)) throw e;
          out = [{ status: 'failed', error: e.error }];
        }
      } else {
        out = (await inbox.runBatch(s.durable, items.map((it) => it.key), run)).map((o) => (o.status === 'failed' ? { status: 'failed', error: (o.error as HandlerFailure).error } : o));
      }
      this.limit = s.batch;
      return out;
    } catch (e) {
      this.limit = 1;
      this.batchError = e;
      this.log.warn({ msg: 'inbox transaction failed; nothing of the batch acked, all retried', consumer: s.durable, size: items.length, error: describeError(e) });
      return undefined;
    }
  }

  private handlerOf(pattern: string): MessageHandler | null {
    let h = this.handlers.get(pattern);
    if (h === undefined) {
      h = this.handlerFor(pattern);
      this.handlers.set(pattern, h);
    }
    return h;
  }

  /**
   * Validates an event as it arrives (kind 'event'), so that parsing the next batch overlaps the
   * database round trips of the current one; the outcome is acted on in order by `admit`.
   */
  private delivered(m: JsMsg): Delivered {
    if (this.spec.kind !== 'event') return { m };
    try {
      return { m, parsed: { event: parseEvent(m.data, m.subject) } };
    } catch (error) {
      return { m, parsed: { error } };
    }
  }

  /** The per-message decisions that need no handler; returns the item to run, or undefined if decided. */
  private async admit({ m, parsed }: Delivered, acks: JsMsg[]): Promise<Item | undefined> {
    const s = this.spec;
    const raw = rawFromJsMsg(m);
    const deliveryCount = m.info.deliveryCount;
    if (deliveryCount > s.maxDeliver) {
      // earlier attempts never reached a decision (the process died): do not run it again
      await this.deadLetter(m, raw, 'MAX_DELIVER_EXCEEDED', `delivered ${deliveryCount} times, beyond maxDeliver ${s.maxDeliver}, without a decision`);
      return undefined;
    }
    let event: AnyKoaEvent | undefined;
    let handler: MessageHandler | null;
    if (s.kind === 'event') {
      if (!parsed || 'error' in parsed) {
        await this.fail(m, raw, parsed?.error, deliveryCount);
        return undefined;
      }
      event = parsed.event;
      handler = this.handlerOf(event.type);
      if (!handler) {
        this.log.debug?.({ msg: 'no handler; skipped', consumer: s.durable, type: event.type, seq: m.seq });
        acks.push(m);
        return undefined;
      }
    } else {
      handler = this.handlerOf(s.durable);
    }
    if (!handler) {
      // listen() refuses raw consumers without a handler; keep the message rather than guess
      m.nak(s.backoffMs[0] ?? 0);
      return undefined;
    }
    const key = event ? dedupKey(event) : (raw.headers['Nats-Msg-Id'] ?? `${s.stream}#${m.seq}`);
    return { m, raw, event, handler, key, attempt: deliveryCount };
  }

  /** Runs the handler inside the message's trace context (CONSUMER span); throws what the handler threw. */
  private async runHandler(it: Item, tx: unknown, keepAlive: () => void): Promise<void> {
    const s = this.spec;
    const { m, raw, event } = it;
    const ctx = new KoaEventContext(s.durable, raw, event, it.attempt, keepAlive);
    ctx.setTx(tx);
    const parent = extractTraceContext(raw.headers, event?.traceparent);
    const span = tracer().startSpan(
      `koa.consume ${event?.type ?? s.durable}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': m.subject,
          'messaging.consumer.group.name': s.durable,
          'messaging.message.id': it.key,
          'messaging.nats.stream': s.stream,
          'messaging.nats.stream_sequence': m.seq,
          'messaging.nats.delivery_count': it.attempt,
          'koa.service': this.o.serviceName,
          ...(event && { 'koa.event.type': event.type, 'koa.tenant': event.tenantid, 'cloudevents.event_id': event.id }),
          ...(event?.correlationid && { 'koa.correlation_id': event.correlationid }),
        },
      },
      parent,
    );
    try {
      await otelContext.with(trace.setSpan(parent, span), () => invoke(it.handler, event ?? raw.data, ctx));
      span.setStatus({ code: SpanStatusCode.OK });
    } catch (e) {
      span.recordException(e instanceof Error ? e : new Error(describeError(e)));
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(e) });
      throw e;
    } finally {
      span.end();
    }
  }

  /**
   * Acks without waiting for one confirmation per message, then ONE flush round trip for the
   * batch, which is not awaited here (the next batch overlaps it; `stop()` awaits it): once it
   * returns the server has received every ack of the batch. A lost ack only means a
   * redelivery, which the inbox answers as a duplicate.
   */
  private ackAll(acks: JsMsg[]): void {
    if (acks.length === 0) return;
    for (const m of acks) m.ack();
    const previous = this.flushing;
    this.flushing = (async () => {
      await previous;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          this.o.messaging.connection.flush(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('flush not answered within 5000 ms')), 5_000);
          }),
        ]);
      } catch (e) {
        this.log.warn({ msg: 'acks not confirmed (they will be redelivered if lost; the inbox de-duplicates)', consumer: this.spec.durable, count: acks.length, error: describeError(e) });
      } finally {
        clearTimeout(timer);
      }
    })();
  }

  private async fail(m: JsMsg, raw: RawMessage, error: unknown, deliveryCount: number): Promise<void> {
    const d = decideDisposition(error, deliveryCount, this.spec);
    if (d.action === 'nak') {
      this.log.warn({ msg: 'handler failed; nak', consumer: this.spec.durable, seq: m.seq, deliveryCount, delayMs: d.delayMs, error: describeError(error) });
      m.nak(d.delayMs);
      return;
    }
    await this.deadLetter(m, raw, d.code, d.message, deliveryCount);
  }

  private async deadLetter(m: JsMsg, raw: RawMessage, code: string, message: string, attempt = m.info.deliveryCount): Promise<void> {
    const s = this.spec;
    const headers: Record<string, string> = {
      'Koa-Refusal-Code': code,
      'Koa-Refusal-Message': message.replace(/[\r\n]+/g, ' ').slice(0, 1024),
      'Koa-Consumer': s.durable,
      'Koa-Original-Subject': raw.subject,
      'Koa-Original-Stream': s.stream,
      'Koa-Original-Seq': String(raw.seq),
      'Koa-Delivery-Count': String(attempt),
    };
    try {
      await this.o.messaging.publish(subjects.deadLetter(s.durable), raw.data, { msgId: `dlq:${s.durable}:${raw.seq}`, headers });
    } catch (e) {
      const delayMs = s.backoffMs[s.backoffMs.length - 1] ?? 1_000;
      this.log.error({ msg: 'dead-letter publish failed; nak (nothing is lost)', consumer: s.durable, seq: raw.seq, code, delayMs, error: describeError(e) });
      m.nak(delayMs);
      return;
    }
    this.log.error({ msg: 'dead-lettered', consumer: s.durable, subject: raw.subject, seq: raw.seq, code, reason: message });
    m.term();
  }
}

async function invoke(handler: MessageHandler, payload: unknown, ctx: KoaEventContext): Promise<unknown> {
  const result = await handler(payload, ctx);
  return isObservable(result) ? lastValueFrom(result, { defaultValue: undefined }) : result;
}

/** Nest's default RPC filter replaces errors with `{status:'error', message}`: keep it retryable and say why. */
function normalizeHandlerError(e: unknown): unknown {
  if (NEST_GENERIC_ERROR(e)) {
    return new KoaRefusal(
      'HANDLER_FAILED',
      `handler failed; its error was masked by Nest's default RPC exception filter (register KoaEventExceptionFilter to keep refusal codes): ${describeError(e)}`,
    );
  }
  return e;
}
