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
  /**
   * default 2 × `batch`, at least `CONSUMER_DEFAULTS.maxAckPending` (256), so the next batch is
   * delivered while the current one runs (pull-ahead); `CONSUMER_DEFAULTS.maxAckPending` with `ordering: 'strict'`
   */
  readonly maxAckPending?: number;
  /**
   * Messages per pull request and per inbox transaction (default `DEFAULT_BATCH` = 256). A batch
   * is handled in stream order, in ONE database transaction with a savepoint per message, and
   * acked after the commit. Every message's ack deadline (`ackWaitMs`) starts at delivery, so
   * the whole batch must finish within it: consumers with long handlers (builds, release tasks)
   * set `batch: 1` and call `ctx.working()` (which extends every message of the batch).
   */
  readonly batch?: number;
  /**
   * `'strict'`: the stream order of EFFECTS is kept across failures (docs/messaging.md §3 "Strict
   * order"). The first message of a batch whose handler fails with a retryable error (or whose
   * batch transaction fails) stops the batch: the messages before it commit and are acked; it is
   * nak'd with its backoff; the messages after it are NOT run and NOT handed back — the worker
   * keeps them (ack deadline extended, delivery count unchanged, so their attempt budget is not
   * spent) and runs nothing until the failed message is redelivered and decided, then goes on in
   * stream order. A message that is dead-lettered (non-retryable refusal, last attempt, schema
   * invalid, max-deliver backstop) does not stop the batch: the later messages proceed.
   * Combine with `maxAckPending` > 1 and `batch` > 1 on a consumer with ONE active replica (with
   * several replicas the server spreads messages over them; fence in the handler). Refused with
   * `concurrency` > 1 (`CONFIG_INVALID`). Default: unset (a failing message is nak'd and its
   * neighbours go on, so later messages may overtake it).
   */
  readonly ordering?: 'strict';
  /**
   * Up to `concurrency` messages of a batch are handled at the same time (default 1: one after
   * another, in stream order), for consumers whose messages are independent. With an inbox the
   * batch is split into up to `concurrency` lanes, each its OWN inbox transaction (`runBatch`: a
   * savepoint per message, acks after that lane's commit), all lanes running at once; messages
   * with the same inbox key share a lane. Without an inbox, a pool of `concurrency` handlers.
   * Needs that many database connections in the pool to really overlap. No order between the
   * messages of a batch. Refused with `ordering: 'strict'` (`CONFIG_INVALID`).
   */
  readonly concurrency?: number;
  /**
   * `false`: this consumer's handlers run WITHOUT the transport's inbox (no idempotency record,
   * `ctx.tx` undefined, no transaction held while the handler runs) — only for handlers that are
   * idempotent by themselves (e.g. an append with `expectedLastSubjectSequence: 0`). Acks still
   * follow the handler's success. Default: the transport's inbox, if it has one.
   */
  readonly inbox?: false;
  /**
   * Up to this many milliseconds (default 0: none) a batch waits for more messages after its first
   * one arrived, until it holds `min(batch, maxAckPending)`: for consumers whose messages trickle in
   * one by one, so that one transaction and one ack flush serve several of them — at the price of
   * up to this much latency per batch. Never for a redelivery (it goes alone) or while stopping.
   */
  readonly batchWaitMs?: number;
}

export interface JetStreamTransportOptions {
  readonly messaging: Messaging;
  /** used in logs and span attributes */
  readonly serviceName: string;
  readonly consumers: ConsumerSpec[];
  /** idempotency with no time limit: handlers run inside `inbox.runOnce(durable, key, tx => ...)` */
  readonly inbox?: InboxStore;
}

type ResolvedSpec = Required<Omit<ConsumerSpec, 'backoffMs' | 'ordering' | 'inbox'>> & { backoffMs: readonly number[]; strict: boolean; useInbox: boolean };

const FETCH_EXPIRES_MS = 2_000;
/**
 * default `ConsumerSpec.batch`: one pull and one inbox commit per up to 256 messages (= the default
 * `maxAckPending`; measured ~25% faster than 128 and ~2× faster than 64 on a loaded 2-core machine, docs/messaging.md §7)
 */
export const DEFAULT_BATCH = 256;
/**
 * The default `maxAckPending`: room for TWO batches (at least `CONSUMER_DEFAULTS.maxAckPending`), so
 * that the next batch is delivered while the current one runs and commits (pull-ahead) instead of
 * only after its acks; strict-order consumers keep `CONSUMER_DEFAULTS.maxAckPending`.
 */
function defaultMaxAckPending(c: ConsumerSpec): number {
  if (c.ordering === 'strict') return CONSUMER_DEFAULTS.maxAckPending;
  return Math.max(CONSUMER_DEFAULTS.maxAckPending, 2 * (c.batch ?? DEFAULT_BATCH));
}
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
 * Per consumer, batches of up to `batch` deliveries (what one pull request returned), their
 * handlers one batch at a time, each message in stream order (with the inbox and without strict
 * order, the next batch's decisions and inbox transaction begin while the previous one commits; its
 * handlers wait for that commit — docs/messaging.md §3 "Overlapping batches"):
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
      maxAckPending: c.maxAckPending ?? defaultMaxAckPending(c),
      batch: c.batch ?? DEFAULT_BATCH,
      strict: c.ordering === 'strict',
      concurrency: c.concurrency ?? 1,
      useInbox: c.inbox !== false,
      batchWaitMs: c.batchWaitMs ?? 0,
    }));
    const names = new Set<string>();
    for (const s of this.specs) {
      subjects.deadLetter(s.durable); // validates the token
      if (names.has(`${s.stream}/${s.durable}`)) throw new KoaRefusal('CONFIG_INVALID', `consumer ${s.durable} on ${s.stream} is declared twice`, { durable: s.durable });
      names.add(`${s.stream}/${s.durable}`);
      if (!Number.isInteger(s.batch) || s.batch < 1) throw new KoaRefusal('CONFIG_INVALID', `consumer ${s.durable}: batch must be an integer >= 1, not ${s.batch}`, { durable: s.durable });
      if (s.maxDeliver < 1) throw new KoaRefusal('CONFIG_INVALID', `consumer ${s.durable}: maxDeliver must be >= 1`, { durable: s.durable });
      if (!Number.isFinite(s.batchWaitMs) || s.batchWaitMs < 0) throw new KoaRefusal('CONFIG_INVALID', `consumer ${s.durable}: batchWaitMs must be a number >= 0, not ${s.batchWaitMs}`, { durable: s.durable });
      if (!Number.isInteger(s.concurrency) || s.concurrency < 1) throw new KoaRefusal('CONFIG_INVALID', `consumer ${s.durable}: concurrency must be an integer >= 1, not ${s.concurrency}`, { durable: s.durable });
    }
    for (const c of o.consumers) {
      if (c.inbox !== undefined && c.inbox !== false) throw new KoaRefusal('CONFIG_INVALID', `consumer ${c.durable}: inbox must be false or unset, not ${JSON.stringify(c.inbox)}`, { durable: c.durable });
      if (c.ordering !== undefined && c.ordering !== 'strict') throw new KoaRefusal('CONFIG_INVALID', `consumer ${c.durable}: ordering must be 'strict' or unset, not ${JSON.stringify(c.ordering)}`, { durable: c.durable });
      if (c.ordering === 'strict' && (c.concurrency ?? 1) > 1) {
        throw new KoaRefusal('CONFIG_INVALID', `consumer ${c.durable}: ordering 'strict' cannot be combined with concurrency ${c.concurrency} (concurrent messages have no order)`, { durable: c.durable });
      }
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
  readonly d: Delivered;
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

/** Strict order: a message after the batch's stop point, not run (thrown instead of running its handler). */
class NotRun {}

/**
 * What became of one item of a batch: `failed` = its handler threw (strict: the stop point);
 * `infra` = its transaction could not begin/record/commit (nothing of it is durable);
 * `dead-lettered` = strict order: its record is already published, `term()` it;
 * `not-run` = strict order: after the stop point, kept for later.
 */
type Outcome =
  | { readonly status: 'done' | 'duplicate' | 'dead-lettered' | 'not-run' }
  | { readonly status: 'failed' | 'infra'; readonly error: unknown };

/**
 * Overlapping batches: `previous` settles when the batch before has committed (or failed) and sent
 * its acks; `ready` tells the worker that this batch has passed that point, so it may take the next.
 */
interface Gate {
  readonly previous: Promise<void>;
  readonly ready: () => void;
}

/**
 * An inbox store may declare `statementSnapshots: true` (`PgInboxStore` does under READ COMMITTED):
 * every statement of its transactions sees what was committed before the statement began. Then a
 * batch's transaction may begin and record its keys while the previous batch commits — its
 * handlers, which run after that commit, still see the previous batch's writes.
 */
interface OverlapCapable {
  readonly statementSnapshots: boolean;
}

/** Strict order: the worker runs nothing until the delivery of `seq` (nak'd, back at `redeliverAt`) has been decided. */
interface Block {
  readonly seq: number;
  readonly redeliverAt: number;
  /** give up waiting (the message went to another replica, or was decided elsewhere): hand the kept messages back */
  readonly deadline: number;
  lastKeptAlive: number;
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
  /** strict order: set while a nak'd message must come back before anything else runs */
  private blocked?: Block;
  /**
   * Overlapping batches (docs/messaging.md §3 "Overlapping batches"): the next batch is admitted
   * and its inbox transaction begun while this one runs and commits; its handlers wait for this
   * one's commit. Only without strict order, with one lane and the transport's inbox.
   */
  private readonly overlap: boolean;
  /** overlapping batches: the batch in flight, settled once it has committed (or failed) and its acks are sent */
  private inflight: Promise<void> = Promise.resolve();
  /** overlapping batches: the messages of the batch taken last (waiting for the one before it to commit, or running) */
  private latest: JsMsg[] = [];

  constructor(
    private readonly spec: ResolvedSpec,
    private readonly o: JetStreamTransportOptions,
    private readonly handlerFor: (pattern: string) => MessageHandler | null,
    private readonly log: Logger,
  ) {
    this.limit = spec.batch;
    this.overlap = !spec.strict && spec.concurrency === 1 && spec.useInbox && o.inbox !== undefined;
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
        // while blocked (strict order) keep pulling: the nak'd message comes back through a pull
        if (this.queue.length > 0 && !this.blocked) {
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
        // a processor lingering in fill() for a full batch stops waiting: nothing more can arrive
        this.wakeProcessor?.();
      }
    }
  }

  /** Takes what has arrived (up to `batch`), processes it as one batch, in stream order; repeats. */
  private async process(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) {
        if (this.stopping) {
          await this.inflight;
          return;
        }
        await new Promise<void>((resolve) => (this.wakeProcessor = resolve));
        this.wakeProcessor = undefined;
        continue;
      }
      if (this.stopping) {
        // delivered but not started: hand them back at once (the in-flight batch has finished);
        // strict order: not before the message they wait for (same or later expiry ⇒ redelivered after it)
        const delay = this.blocked ? Math.max(0, this.blocked.redeliverAt - Date.now()) : 0;
        for (const d of this.queue.splice(0)) d.m.nak(delay);
        continue;
      }
      if (this.blocked) {
        await this.whileBlocked(this.blocked);
        continue;
      }
      // let the messages that arrived in the same network read reach the queue first (the
      // client hands them over one microtask at a time): they join this batch
      if (this.queue.length < this.limit) await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.spec.batchWaitMs > 0) await this.fill();
      const batch = this.queue.splice(0, this.batchLength());
      if (this.queue.length === 0) this.wakeProducer?.();
      try {
        if (this.overlap) {
          // go on with the next batch as soon as this one has passed its gate (the previous batch committed)
          const previous = this.inflight;
          let ready!: () => void;
          const passed = new Promise<void>((resolve) => (ready = resolve));
          this.latest = batch.map((d) => d.m);
          const current = this.processBatch(batch, { previous, ready }).catch((e: unknown) => {
            this.log.error({ msg: 'batch failed unexpectedly; nak', consumer: this.spec.durable, error: describeError(e) });
            for (const d of batch) d.m.nak(this.spec.backoffMs[0] ?? 0);
          });
          this.inflight = current;
          await Promise.race([passed, current]);
          continue;
        }
        await this.processBatch(batch);
      } catch (e) {
        // processBatch decides every message itself; this is a bug guard: nothing is acked
        this.log.error({ msg: 'batch failed unexpectedly; nak', consumer: this.spec.durable, error: describeError(e) });
        for (const d of batch) d.m.nak(this.spec.backoffMs[0] ?? 0);
      }
    }
  }

  /**
   * Strict order, blocked on `b.seq`: once a delivery of that message has arrived, it runs alone
   * (and may block again); the kept messages then go on in stream order. Until then nothing runs
   * and the kept messages' ack deadlines are extended. Past the deadline the kept messages are
   * handed back (nak, no delay: the awaited message's delay has passed, so they come back after
   * it) and the block is lifted.
   */
  private async whileBlocked(b: Block): Promise<void> {
    const i = this.queue.findIndex((d) => d.m.seq === b.seq);
    if (i >= 0) {
      const [d] = this.queue.splice(i, 1);
      this.blocked = undefined;
      this.queue.sort((x, y) => x.m.seq - y.m.seq); // kept ones and anything pulled since, in stream order
      try {
        await this.processBatch([d]);
      } catch (e) {
        this.log.error({ msg: 'batch failed unexpectedly; nak', consumer: this.spec.durable, error: describeError(e) });
        d.m.nak(this.spec.backoffMs[0] ?? 0);
      }
      return;
    }
    const now = Date.now();
    if (now >= b.deadline) {
      this.log.warn({ msg: 'strict order: the failed message did not come back in time; kept messages handed back', consumer: this.spec.durable, seq: b.seq, kept: this.queue.length });
      this.blocked = undefined;
      for (const d of this.queue.splice(0)) d.m.nak();
      this.wakeProducer?.();
      return;
    }
    const keepAliveEvery = Math.max(50, Math.floor(this.spec.ackWaitMs / 3));
    if (now - b.lastKeptAlive >= keepAliveEvery) {
      b.lastKeptAlive = now;
      for (const d of this.queue) d.m.working();
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, Math.min(keepAliveEvery, b.deadline - now));
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeProcessor = done;
    });
    this.wakeProcessor = undefined;
  }

  /**
   * `batchWaitMs`: waits (up to that long) until the queue holds a full batch
   * (`min(batch, maxAckPending)` — the server delivers no more than `maxAckPending` unacked), the
   * pull has ended (nothing more can arrive), or a redelivery is queued (it goes alone).
   */
  private async fill(): Promise<void> {
    const target = Math.min(this.limit, this.spec.maxAckPending);
    const deadline = Date.now() + this.spec.batchWaitMs;
    for (;;) {
      const n = this.queue.length;
      if (n === 0 || n >= target || this.stopping || this.blocked || !this.current || this.queue[0].m.info.deliveryCount > 1 || this.queue[n - 1].m.info.deliveryCount > 1) return;
      const left = deadline - Date.now();
      if (left <= 0) return;
      await wakeableDelay(left, (wake) => (this.wakeProcessor = wake));
      this.wakeProcessor = undefined;
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
    return wakeableDelay(ms, (wake) => (this.wakeSleep = wake));
  }

  /**
   * One batch, in stream order. Decisions that need no handler (max-deliver backstop, schema
   * refusal, no handler) are taken first; the handlers then run in ONE inbox transaction, a
   * savepoint each; the successes are acked only after the commit (one flush for the batch).
   */
  private async processBatch(batch: Delivered[], gate?: Gate): Promise<void> {
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
      // and the messages that wait for this batch: the next batch (overlapping) and those pulled ahead
      if (this.latest[0] !== msgs[0]) for (const m of this.latest) m.working();
      for (const d of this.queue) d.m.working();
    };
    const progressed = () => {
      if (Date.now() - kept > s.ackWaitMs / 3) keepAlive();
    };
    if (items.length > 0) {
      const outcomes = await this.runItems(items, keepAlive, progressed, gate);
      if (s.strict) await this.settleStrict(items, outcomes, acks);
      else {
        for (let i = 0; i < items.length; i++) {
          const it = items[i];
          const o = outcomes[i];
          // 'infra': begin/record/commit failed: nothing of it is durable, so it is not acked
          if (o.status === 'failed' || o.status === 'infra') await this.fail(it.m, it.raw, o.error, it.attempt);
          else {
            if (o.status === 'duplicate') this.log.debug?.({ msg: 'duplicate (inbox); acked without running', consumer: s.durable, key: it.key, seq: it.m.seq });
            acks.push(it.m);
          }
        }
      }
    }
    this.ackAll(acks);
  }

  /**
   * Strict order: successes (and duplicates) before the stop point are acked; dead-lettered ones
   * are `term()`ed (their record is published); the stop point — the handler failure, or the first
   * message of a failed transaction — is nak'd with its backoff (or dead-lettered on its last
   * attempt, and then nothing stops); every message after it goes back to the FRONT of the queue
   * and the worker blocks until the stop point has been redelivered and decided.
   */
  private async settleStrict(items: Item[], outcomes: Outcome[], acks: JsMsg[]): Promise<void> {
    const s = this.spec;
    const kept: Delivered[] = [];
    let stopped = false;
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      const o = outcomes[i];
      switch (o.status) {
        case 'done':
        case 'duplicate':
          acks.push(it.m);
          break;
        case 'dead-lettered':
          it.m.term();
          break;
        case 'not-run':
          kept.push(it.d);
          break;
        case 'failed':
        case 'infra': {
          if (stopped) {
            kept.push(it.d);
            break;
          }
          const d = o.status === 'failed' ? this.strictStop(o.error, it.attempt) : decideDisposition(o.error, it.attempt, s);
          if (d.action === 'dead-letter') {
            // o.status 'failed' never gets here (strictStop only returns naks); a failed transaction on the last attempt does
            await this.deadLetter(it.m, it.raw, d.code, d.message, it.attempt);
            break;
          }
          stopped = true;
          this.log.warn({ msg: 'strict order: stopped at a failed message; nak, the later ones wait for it', consumer: s.durable, seq: it.m.seq, deliveryCount: it.attempt, delayMs: d.delayMs, waiting: items.length - i - 1, error: describeError(o.error) });
          it.m.nak(d.delayMs);
          const now = Date.now();
          this.blocked = { seq: it.m.seq, redeliverAt: now + d.delayMs, deadline: now + d.delayMs + FETCH_EXPIRES_MS * 2, lastKeptAlive: now };
          break;
        }
      }
    }
    if (kept.length > 0) this.queue.unshift(...kept);
    if (this.blocked) this.wakeProducer?.();
  }

  /** Strict order: the disposition of the stop point's handler error, whose dead-letter publish (if any) already failed. */
  private strictStop(error: unknown, attempt: number): { action: 'nak'; delayMs: number } {
    const d = decideDisposition(error, attempt, this.spec);
    if (d.action === 'nak') return d;
    return { action: 'nak', delayMs: this.spec.backoffMs[this.spec.backoffMs.length - 1] ?? 1_000 };
  }

  /**
   * Runs the handlers. With an inbox: ONE transaction per lane (`runBatch`, a savepoint per item;
   * a lane of one item uses `runOnce`, which needs no savepoint), one lane in stream order unless
   * `concurrency` > 1 (then up to `concurrency` lanes at once). A lane whose transaction failed as
   * a whole reports `infra` for each of its items, after which the next batches take one message
   * at a time until one commits. Strict order: the first retryable handler failure is the stop
   * point (later items throw `NotRun` instead of running); a handler failure to be dead-lettered
   * has its record published right away (before the later items run) and does not stop the batch.
   */
  private async runItems(items: Item[], keepAlive: () => void, progressed: () => void, gate?: Gate): Promise<Outcome[]> {
    const s = this.spec;
    const inbox = s.useInbox ? this.o.inbox : undefined;
    const out: Outcome[] = new Array<Outcome>(items.length);
    let stopAt = -1;
    const deadLettered = new Set<number>();
    // overlapping batches: a store whose transactions see every commit that precedes each statement
    // begins and records while the previous batch commits, and waits for it before the first
    // handler; any other store begins only after it
    const early = gate !== undefined && inbox !== undefined && (inbox as Partial<OverlapCapable>).statementSnapshots === true;
    if (gate && !early) {
      await gate.previous;
      gate.ready();
    }
    const run = async (i: number, tx: unknown): Promise<void> => {
      if (early) {
        await gate.previous;
        gate.ready();
      }
      if (stopAt >= 0) throw new NotRun();
      const it = items[i];
      try {
        await this.runHandler(it, tx, keepAlive);
      } catch (e) {
        const error = normalizeHandlerError(e);
        if (s.strict) {
          const d = decideDisposition(error, it.attempt, s);
          if (d.action === 'dead-letter' && (await this.publishDeadLetter(it.raw, d.code, d.message, it.attempt))) deadLettered.add(i);
          else stopAt = i;
        }
        throw new HandlerFailure(error);
      } finally {
        progressed();
      }
    };
    const outcome = (i: number, o: InboxBatchOutcome<void>): Outcome => {
      if (o.status !== 'failed') return { status: o.status };
      if (o.error instanceof NotRun) return { status: 'not-run' };
      if (deadLettered.has(i)) return { status: 'dead-lettered' };
      return { status: 'failed', error: (o.error as HandlerFailure).error };
    };
    if (!inbox) {
      await pool(items.length, s.concurrency, async (i) => {
        try {
          await run(i, undefined);
          out[i] = { status: 'done' };
        } catch (error) {
          out[i] = outcome(i, { status: 'failed', error });
        }
      });
      return out;
    }
    let failed = false;
    await Promise.all(
      this.lanes(items).map(async (lane) => {
        try {
          const results = await this.runLane(
            inbox,
            lane.map((i) => items[i].key),
            (j, tx) => run(lane[j], tx),
          );
          results.forEach((o, j) => (out[lane[j]] = outcome(lane[j], o)));
        } catch (error) {
          failed = true;
          this.log.warn({ msg: 'inbox transaction failed; nothing of it acked, all retried', consumer: s.durable, size: lane.length, error: describeError(error) });
          for (const i of lane) out[i] = deadLettered.has(i) ? { status: 'dead-lettered' } : { status: 'infra', error };
        }
      }),
    );
    this.limit = failed ? 1 : s.batch;
    return out;
  }

  /** One inbox transaction over `keys`; throws if it failed as a whole (begin/record/commit). */
  private async runLane(inbox: InboxStore, keys: string[], work: (index: number, tx: unknown) => Promise<void>): Promise<Array<InboxBatchOutcome<void>>> {
    if (keys.length > 1) return inbox.runBatch(this.spec.durable, keys, work);
    try {
      const r = await inbox.runOnce(this.spec.durable, keys[0], (tx) => work(0, tx));
      return [r.duplicate ? { status: 'duplicate' } : { status: 'done', value: undefined }];
    } catch (e) {
      if (!(e instanceof HandlerFailure)) throw e;
      return [{ status: 'failed', error: e }];
    }
  }

  /**
   * Item indices per lane: one lane in stream order, or (`concurrency` > 1) up to `concurrency`
   * lanes dealt round-robin, items with the same inbox key in the same lane (two lanes waiting
   * for each other's key would deadlock).
   */
  private lanes(items: Item[]): number[][] {
    const n = Math.min(this.spec.concurrency, items.length);
    if (n <= 1) return [items.map((_, i) => i)];
    const lanes: number[][] = Array.from({ length: n }, () => []);
    const laneOfKey = new Map<string, number>();
    let next = 0;
    items.forEach((it, i) => {
      let l = laneOfKey.get(it.key);
      if (l === undefined) {
        l = next++ % n;
        laneOfKey.set(it.key, l);
      }
      lanes[l].push(i);
    });
    return lanes.filter((l) => l.length > 0);
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
  private async admit(delivered: Delivered, acks: JsMsg[]): Promise<Item | undefined> {
    const { m, parsed } = delivered;
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
    return { d: delivered, m, raw, event, handler, key, attempt: deliveryCount };
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
    if (await this.publishDeadLetter(raw, code, message, attempt)) m.term();
    else m.nak(this.spec.backoffMs[this.spec.backoffMs.length - 1] ?? 1_000);
  }

  /** Publishes the dead-letter record; false (logged) if that failed — then the caller must not `term()` (nothing is ever lost). */
  private async publishDeadLetter(raw: RawMessage, code: string, message: string, attempt: number): Promise<boolean> {
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
      this.log.error({ msg: 'dead-letter publish failed; nak (nothing is lost)', consumer: s.durable, seq: raw.seq, code, error: describeError(e) });
      return false;
    }
    this.log.error({ msg: 'dead-lettered', consumer: s.durable, subject: raw.subject, seq: raw.seq, code, reason: message });
    return true;
  }
}

/** Runs `f(0..n-1)` with at most `width` calls in flight. */
async function pool(n: number, width: number, f: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await f(next++);
    }),
  );
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

/** Resolves after `ms`, or as soon as the function handed to `register` is called. */
function wakeableDelay(ms: number, register: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(wake, ms);
    function wake(): void {
      clearTimeout(t);
      resolve();
    }
    register(wake);
  });
}
