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
import type { InboxStore } from './inbox';
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
  /** messages per pull request (default 1). The whole batch's ack deadline starts at delivery. */
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
 * Per delivery, in stream order, one at a time per consumer:
 * 1. delivery count beyond `maxDeliver` (earlier attempts crashed) ⇒ dead-letter `MAX_DELIVER_EXCEEDED`;
 * 2. kind 'event': `parseEvent(data, subject)`; invalid ⇒ dead-letter with its refusal code;
 *    no handler for the type ⇒ ack (skip);
 * 3. the handler runs inside the extracted trace context (CONSUMER span `koa.consume <type>`) and,
 *    with an inbox, inside `inbox.runOnce(durable, dedupKey(event), tx => handler)` (duplicate ⇒ ack, not run);
 * 4. success ⇒ ack (confirmed by the server); failure ⇒ `decideDisposition`: nak(backoff) or
 *    dead-letter (record published to `koa.dlq.<durable>` FIRST, then `term()`; if that publish
 *    fails, nak — nothing is ever lost).
 * `close()` (Nest calls it on `app.close()`) stops fetching, lets the in-flight handler finish and ack, then returns.
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
      batch: c.batch ?? 1,
    }));
    const names = new Set<string>();
    for (const s of this.specs) {
      subjects.deadLetter(s.durable); // validates the token
      if (names.has(`${s.stream}/${s.durable}`)) throw new KoaRefusal('CONFIG_INVALID', `consumer ${s.durable} on ${s.stream} is declared twice`, { durable: s.durable });
      names.add(`${s.stream}/${s.durable}`);
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

class ConsumerWorker {
  private stopping = false;
  private current?: ConsumerMessages;
  private done?: Promise<void>;
  private wake?: () => void;
  private consumer?: Consumer;

  constructor(
    private readonly spec: ResolvedSpec,
    private readonly o: JetStreamTransportOptions,
    private readonly handlerFor: (pattern: string) => MessageHandler | null,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.ensureConsumer();
    this.done = this.loop();
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

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if (!this.consumer || failures > 0) await this.ensureConsumer();
        const consumer = this.consumer;
        if (!consumer) throw new Error('consumer not ready');
        const iter = await consumer.fetch({ max_messages: this.spec.batch, expires: FETCH_EXPIRES_MS });
        this.current = iter;
        if (this.stopping) await iter.close();
        for await (const m of iter) {
          if (this.stopping) {
            m.nak();
            continue;
          }
          await this.process(m);
        }
        failures = 0;
      } catch (e) {
        if (this.stopping) break;
        failures++;
        this.log.warn({ msg: 'fetch failed; retrying', consumer: this.spec.durable, attempt: failures, error: describeError(e) });
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(100 * 2 ** failures, 5_000));
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      } finally {
        this.current = undefined;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.current?.close().catch(() => undefined);
    await this.done;
  }

  private async process(m: JsMsg): Promise<void> {
    const s = this.spec;
    const raw = rawFromJsMsg(m);
    const deliveryCount = m.info.deliveryCount;
    if (deliveryCount > s.maxDeliver) {
      // earlier attempts never reached a decision (the process died): do not run it again
      await this.deadLetter(m, raw, 'MAX_DELIVER_EXCEEDED', `delivered ${deliveryCount} times, beyond maxDeliver ${s.maxDeliver}, without a decision`);
      return;
    }
    let event: AnyKoaEvent | undefined;
    let handler: MessageHandler | null;
    if (s.kind === 'event') {
      try {
        event = parseEvent(m.data, m.subject);
      } catch (e) {
        await this.fail(m, raw, e, deliveryCount);
        return;
      }
      handler = this.handlerFor(event.type);
      if (!handler) {
        this.log.debug?.({ msg: 'no handler; skipped', consumer: s.durable, type: event.type, seq: m.seq });
        await this.ack(m);
        return;
      }
    } else {
      handler = this.handlerFor(s.durable);
    }
    if (!handler) {
      // listen() refuses raw consumers without a handler; keep the message rather than guess
      m.nak(s.backoffMs[0] ?? 0);
      return;
    }
    const run = handler;
    const ctx = new KoaEventContext(s.durable, raw, event, deliveryCount, () => m.working());
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
          'messaging.message.id': event ? dedupKey(event) : (raw.headers['Nats-Msg-Id'] ?? `${s.stream}#${m.seq}`),
          'messaging.nats.stream': s.stream,
          'messaging.nats.stream_sequence': m.seq,
          'messaging.nats.delivery_count': deliveryCount,
          'koa.service': this.o.serviceName,
          ...(event && { 'koa.event.type': event.type, 'koa.tenant': event.tenantid, 'cloudevents.event_id': event.id }),
          ...(event?.correlationid && { 'koa.correlation_id': event.correlationid }),
        },
      },
      parent,
    );
    try {
      await otelContext.with(trace.setSpan(parent, span), async () => {
        const payload = event ?? raw.data;
        const inbox = this.o.inbox;
        if (inbox) {
          const key = event ? dedupKey(event) : (raw.headers['Nats-Msg-Id'] ?? `${s.stream}#${m.seq}`);
          const r = await inbox.runOnce(s.durable, key, async (tx) => {
            ctx.setTx(tx);
            return invoke(run, payload, ctx);
          });
          if (r.duplicate) this.log.debug?.({ msg: 'duplicate (inbox); acked without running', consumer: s.durable, key, seq: m.seq });
        } else {
          await invoke(run, payload, ctx);
        }
      });
      span.setStatus({ code: SpanStatusCode.OK });
    } catch (e) {
      span.recordException(e instanceof Error ? e : new Error(describeError(e)));
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(e) });
      span.end();
      await this.fail(m, raw, normalizeHandlerError(e), deliveryCount);
      return;
    }
    span.end();
    await this.ack(m);
  }

  private async ack(m: JsMsg): Promise<void> {
    try {
      const ok = await m.ackAck({ timeout: 5_000 });
      if (!ok) this.log.warn({ msg: 'ack not confirmed (will be redelivered; the inbox de-duplicates)', consumer: this.spec.durable, seq: m.seq });
    } catch (e) {
      this.log.warn({ msg: 'ack failed (will be redelivered; the inbox de-duplicates)', consumer: this.spec.durable, seq: m.seq, error: describeError(e) });
    }
  }

  private async fail(m: JsMsg, raw: RawMessage, error: unknown, deliveryCount: number): Promise<void> {
    const d = decideDisposition(error, deliveryCount, this.spec);
    if (d.action === 'nak') {
      this.log.warn({ msg: 'handler failed; nak', consumer: this.spec.durable, seq: m.seq, deliveryCount, delayMs: d.delayMs, error: describeError(error) });
      m.nak(d.delayMs);
      return;
    }
    await this.deadLetter(m, raw, d.code, d.message);
  }

  private async deadLetter(m: JsMsg, raw: RawMessage, code: string, message: string): Promise<void> {
    const s = this.spec;
    const headers: Record<string, string> = {
      'Koa-Refusal-Code': code,
      'Koa-Refusal-Message': message.replace(/[\r\n]+/g, ' ').slice(0, 1024),
      'Koa-Consumer': s.durable,
      'Koa-Original-Subject': raw.subject,
      'Koa-Original-Stream': s.stream,
      'Koa-Original-Seq': String(raw.seq),
      'Koa-Delivery-Count': String(m.info.deliveryCount),
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
