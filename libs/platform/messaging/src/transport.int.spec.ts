import type { INestMicroservice } from '@nestjs/common';
import { CaseClosed, CaseOpened, createEvent, KoaRefusal, STREAMS, subjects, type AnyKoaEvent } from '@koa/contracts';
import { PrivateNatsServer, eventually, uniqueName } from '@koa/platform/testing';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { ROOT_CONTEXT, context, propagation, trace } from '@opentelemetry/api';
import { Messaging, type ConsumerSpec, type InboxStore } from './index';
import { MemoryInboxStore } from './testing';
import { deadLetterRecord, startConsumerApp, type ConsumerHandler } from './__fixtures__/consumer-app';
import { caseClosed } from './__fixtures__/events';

type Behaviour = ConsumerHandler<unknown>;
const RAW_DURABLE = 'raw_ingest_test';

describe('JetStreamTransport (real nats-server)', () => {
  let server: PrivateNatsServer;
  let messaging: Messaging;
  const apps: INestMicroservice[] = [];

  beforeAll(async () => {
    server = await PrivateNatsServer.start();
    messaging = await Messaging.connect({ url: server.url, name: 'transport-int' });
    await messaging.ensureTopology();
  });
  afterAll(async () => {
    for (const app of apps) await app.close().catch(() => undefined);
    await messaging?.close();
    await server?.dispose();
  });

  async function startApp(behaviour: Behaviour, spec: Partial<ConsumerSpec> & { durable: string; filterSubject: string }, o: { inbox?: InboxStore; filter?: boolean } = {}) {
    // the events go to the one handler, and so do the bytes of the raw consumer named RAW_DURABLE
    const app = await startConsumerApp({ messaging, apps }, {
      serviceName: 'transport-test',
      consumers: [{ backoffMs: [30, 60], ...spec }],
      inbox: o.inbox,
      handler: behaviour,
      patterns: [CaseClosed.type, RAW_DURABLE],
      logger: ['error', 'warn'],
      filter: o.filter,
    });
    return { app };
  }

  const dlq = (durable: string) => messaging.lastMessage(STREAMS.deadLetters.name, subjects.deadLetter(durable));
  const dlqRecord = (durable: string) => deadLetterRecord(messaging, durable);
  const consumerInfo = (durable: string, stream: string = STREAMS.events.name) => messaging.jsm.consumers.info(stream, durable);

  it('dead-letters a message that fails schema validation (code, headers, original bytes) and goes on with the next', async () => {
    const tenant = uniqueName('t');
    const durable = uniqueName('schema');
    const handled: string[] = [];
    await startApp((e) => void handled.push((e as AnyKoaEvent).id), { durable, filterSubject: `koa.evt.${tenant}.>` });
    const good = caseClosed(tenant, 'c1', 2);
    const badBytes = new TextEncoder().encode(JSON.stringify({ ...caseClosed(tenant, 'c1', 1), data: { caseId: 'c1', outcome: 'maybe' } }));
    const { seq } = await messaging.publish(subjects.event(tenant, 'case', 'c1'), badBytes);
    await messaging.append([good]);
    await eventually(() => handled.length === 1, { what: 'next message handled' });
    expect(handled).toEqual([good.id]);
    const record = await dlqRecord(durable);
    expect(record.headers).toMatchObject({
      'Koa-Refusal-Code': 'EVENT_DATA_INVALID',
      'Koa-Consumer': durable,
      'Koa-Original-Subject': subjects.event(tenant, 'case', 'c1'),
      'Koa-Original-Stream': 'KOA_EVENTS',
      'Koa-Original-Seq': String(seq),
      'Koa-Delivery-Count': '1',
      'Nats-Msg-Id': `dlq:${durable}:${seq}`,
    });
    expect(record.headers['Koa-Refusal-Message']).toMatch(/outcome/);
    expect(Buffer.from(record.data).equals(Buffer.from(badBytes))).toBe(true);
    await eventually(async () => (await consumerInfo(durable)).num_ack_pending === 0, { what: 'nothing pending' });
  });

  it('retries a transient failure with backoff until it succeeds (no dead letter)', async () => {
    const tenant = uniqueName('t');
    const durable = uniqueName('transient');
    const counts: number[] = [];
    let done = false;
    await startApp(
      (_e, ctx) => {
        counts.push(ctx.deliveryCount);
        if (ctx.deliveryCount < 3) throw new KoaRefusal('HANDLER_FAILED', 'database briefly away');
        done = true;
      },
      { durable, filterSubject: `koa.evt.${tenant}.>` },
    );
    await messaging.append([caseClosed(tenant, 'c1', 1)]);
    await eventually(() => done, { what: 'handled on 3rd delivery' });
    expect(counts).toEqual([1, 2, 3]);
    await eventually(async () => (await consumerInfo(durable)).num_ack_pending === 0, { what: 'acked' });
    expect(await dlq(durable)).toBeUndefined();
  });

  it('dead-letters a permanent refusal at once with its code', async () => {
    const tenant = uniqueName('t');
    const durable = uniqueName('permanent');
    let calls = 0;
    await startApp(() => {
      calls++;
      throw new KoaRefusal('HANDLER_REJECTED', 'case c1 is not ours');
    }, { durable, filterSubject: `koa.evt.${tenant}.>` });
    await messaging.append([caseClosed(tenant, 'c1', 1)]);
    const record = await dlqRecord(durable);
    expect(record.headers['Koa-Refusal-Code']).toBe('HANDLER_REJECTED');
    expect(record.headers['Koa-Refusal-Message']).toBe('case c1 is not ours');
    expect(calls).toBe(1);
  });

  it('dead-letters MAX_DELIVER_EXCEEDED after maxDeliver attempts of an always-failing handler', async () => {
    const tenant = uniqueName('t');
    const durable = uniqueName('always');
    let calls = 0;
    await startApp(() => {
      calls++;
      throw new Error('boom');
    }, { durable, filterSubject: `koa.evt.${tenant}.>`, maxDeliver: 3 });
    await messaging.append([caseClosed(tenant, 'c1', 1)]);
    const record = await dlqRecord(durable);
    expect(record.headers['Koa-Refusal-Code']).toBe('MAX_DELIVER_EXCEEDED');
    expect(record.headers['Koa-Delivery-Count']).toBe('3');
    expect(record.headers['Koa-Refusal-Message']).toMatch(/boom/);
    expect(calls).toBe(3);
    expect((await consumerInfo(durable)).config.max_deliver).toBe(4); // server-side backstop
    // the record is published before the message is term()ed, and the server applies acks
    // asynchronously: the record can be visible a moment before the term is
    await eventually(async () => (await consumerInfo(durable)).num_ack_pending === 0, { what: 'terminated' });
  });

  it("without KoaEventExceptionFilter a permanent refusal is masked by Nest, so it fails safe (retried, then MAX_DELIVER_EXCEEDED)", async () => {
    const tenant = uniqueName('t');
    const durable = uniqueName('nofilter');
    let calls = 0;
    await startApp(() => {
      calls++;
      throw new KoaRefusal('HANDLER_REJECTED', 'no');
    }, { durable, filterSubject: `koa.evt.${tenant}.>`, maxDeliver: 2 }, { filter: false });
    await messaging.append([caseClosed(tenant, 'c1', 1)]);
    const record = await dlqRecord(durable);
    expect(record.headers['Koa-Refusal-Code']).toBe('MAX_DELIVER_EXCEEDED');
    expect(calls).toBe(2);
  });

  it('acks (skips) event types without a handler', async () => {
    const tenant = uniqueName('t');
    const durable = uniqueName('skip');
    await startApp(() => undefined, { durable, filterSubject: `koa.evt.${tenant}.>` });
    const opened = createEvent(CaseOpened, {
      id: 'o1', time: '2026-01-01T00:00:00Z', source: 'orgo-control', tenant, aggregateId: 'c1', actor: 'user:alice',
      data: { caseId: 'c1', trigger: { kind: 'operator', idempotencyKey: 'k', requestedBy: 'user:alice', reason: 'r', receivedAt: '2026-01-01T00:00:00Z', origin: { via: 'http' } },
        intent: { kind: 'build-and-release', snapshotSetRoot: `sha256:${'a'.repeat(64)}`, digests: [`sha256:${'b'.repeat(64)}`], env: 'dev', channel: 'main' } },
    });
    await messaging.append([opened]);
    await eventually(async () => {
      const i = await consumerInfo(durable);
      return i.delivered.stream_seq > 0 && i.num_ack_pending === 0 && i.num_pending === 0;
    }, { what: 'acked without handler' });
    expect(await dlq(durable)).toBeUndefined();
  });

  it('runs a handler once per source#id with an inbox, even when the event is stored twice', async () => {
    const tenant = uniqueName('t');
    const durable = uniqueName('inbox');
    const inbox = new MemoryInboxStore();
    let calls = 0;
    await startApp(() => void calls++, { durable, filterSubject: `koa.evt.${tenant}.>` }, { inbox });
    const e = caseClosed(tenant, 'c1', 1);
    const bytes = new TextEncoder().encode(JSON.stringify(e));
    // two copies in the stream (no msg id: outside the dedup window, as after a late re-publish)
    await messaging.publish(subjects.event(tenant, 'case', 'c1'), bytes);
    await messaging.publish(subjects.event(tenant, 'case', 'c1'), bytes);
    await eventually(async () => {
      const i = await consumerInfo(durable);
      return i.delivered.stream_seq > 0 && i.num_ack_pending === 0 && i.num_pending === 0;
    }, { what: 'both acked' });
    expect(calls).toBe(1);
    expect(inbox.has(durable, '/koa/orgo-control#' + e.id)).toBe(true);
  });

  it('dispatches raw bytes to the handler named by the durable (kind raw)', async () => {
    const durable = RAW_DURABLE;
    const got: string[] = [];
    await startApp((data, ctx) => void got.push(`${ctx.raw.subject}:${new TextDecoder().decode(data as Uint8Array)}`), {
      durable, stream: STREAMS.ingest.name, filterSubject: 'koa.ingest.>', kind: 'raw',
    });
    await messaging.publish('koa.ingest.acme.feed1', new TextEncoder().encode('hello'), { msgId: 'm1' });
    await eventually(() => got.length === 1, { what: 'raw handled' });
    expect(got).toEqual(['koa.ingest.acme.feed1:hello']);
  });

  it('propagates traceparent through headers and runs the handler in that trace', async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    try {
      const tenant = uniqueName('t');
      const durable = uniqueName('trace');
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const seen: Array<{ header?: string; active?: string }> = [];
      await startApp((_e, ctx) => void seen.push({ header: ctx.raw.headers['traceparent'], active: trace.getSpanContext(context.active())?.traceId }), {
        durable, filterSubject: `koa.evt.${tenant}.>`,
      });
      const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: false });
      await context.with(parent, () => messaging.append([caseClosed(tenant, 'c1', 1)]));
      await eventually(() => seen.length === 1, { what: 'handled' });
      expect(seen[0].header).toBe(`00-${traceId}-00f067aa0ba902b7-01`);
      expect(seen[0].active).toBe(traceId);
    } finally {
      context.disable();
      propagation.disable();
    }
  });

  it('working() keeps a handler that outlives ack_wait from being redelivered to another replica; without it the message goes to the other replica', async () => {
    const tenant = uniqueName('t');
    // two replicas share each durable: an expired delivery is handed to the idle one
    const run = async (durable: string, keepAlive: boolean) => {
      const deliveries: number[] = [];
      const behaviour: Behaviour = async (_e, ctx) => {
        deliveries.push(ctx.deliveryCount);
        if (ctx.deliveryCount > 1) return;
        // 3 s of work, twice the 1.5 s ack_wait, reporting progress every 100 ms: a stalled timer or
        // a slow round trip on a loaded machine has well over a second before the deadline lapses
        for (let i = 0; i < 30; i++) {
          await new Promise((r) => setTimeout(r, 100));
          if (keepAlive) ctx.working();
        }
      };
      const spec = { durable, filterSubject: `koa.evt.${tenant}.>`, ackWaitMs: 1500 };
      await startApp(behaviour, spec);
      await startApp(behaviour, spec);
      return deliveries;
    };
    const keptDurable = uniqueName('kept');
    const kept = await run(keptDurable, true);
    const lapsed = await run(uniqueName('lapsed'), false);
    await messaging.append([caseClosed(tenant, 'c1', 1)]);
    await eventually(() => lapsed.length >= 2, { what: 'redelivery without working()' });
    // the first delivery, then a redelivery: normally delivery 2 on the idle replica; if the busy
    // replica's own pull took delivery 2, it lapsed there too and delivery 3 may be handled first
    expect(lapsed[0]).toBe(1);
    expect(lapsed.slice(1).every((d) => d > 1)).toBe(true);
    // once acked nothing can be redelivered; the consumer sequence counts every delivery made
    const info = await eventually(async () => {
      const i = await consumerInfo(keptDurable);
      if (i.num_ack_pending !== 0 || i.ack_floor.stream_seq === 0) throw new Error('not acked yet');
      return i;
    }, { what: 'kept acked' });
    expect(info.delivered.consumer_seq).toBe(1);
    expect(kept).toEqual([1]);
  });

  it('graceful shutdown: app.close() waits for the in-flight handler, which is acked (no redelivery after restart)', async () => {
    const tenant = uniqueName('t');
    const durable = uniqueName('shutdown');
    let release!: () => void;
    const latch = new Promise<void>((r) => (release = r));
    let started = false;
    let finished = false;
    const { app } = await startApp(async () => {
      started = true;
      await latch;
      finished = true;
    }, { durable, filterSubject: `koa.evt.${tenant}.>` });
    await messaging.append([caseClosed(tenant, 'c1', 1)]);
    await eventually(() => started, { what: 'handler started' });
    const closing = app.close();
    let closed = false;
    void closing.then(() => (closed = true));
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false); // still waiting for the handler
    release();
    await closing;
    expect(finished).toBe(true);
    const info = await consumerInfo(durable);
    expect(info.num_ack_pending).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(info.delivered.stream_seq);
    // restart with the same durable: only the new event is handled
    const handled: string[] = [];
    await startApp((e) => void handled.push((e as AnyKoaEvent).id), { durable, filterSubject: `koa.evt.${tenant}.>` });
    const marker = caseClosed(tenant, 'c1', 2);
    await messaging.append([marker]);
    await eventually(() => handled.includes(marker.id), { what: 'marker handled' });
    expect(handled).toEqual([marker.id]);
  });
});
