import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern } from '@nestjs/microservices';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { createEvent, STREAMS, subjectOf, TaskCompleted, type AnyKoaEvent } from '@koa/contracts';
import { DEFAULT_BATCH, JetStreamTransport, Messaging } from '@koa/platform/messaging';
import { openDataSource, PgInboxStore, type DataSource } from '@koa/platform/persistence';
import { bySize, now, seconds, stallMs, type BenchContext, type Sample, type Suite } from '../harness';

/** Both sides consume the same N stored events through a fresh durable each round. */
const TENANT = 'cbench';
const FILTER = `koa.evt.${TENANT}.>`;
const size = (ctx: BenchContext): number => bySize(ctx, { smoke: 300, quick: 3_000, full: 10_000 });

let raw: NatsConnection | undefined;
let messaging: Messaging | undefined;
let ds: DataSource | undefined;
let inbox: PgInboxStore | undefined;

let seen = new Set<string>();
let target = 0;
let done: (() => void) | undefined;

@Controller()
class NoopHandler {
  @EventPattern(TaskCompleted.type)
  handle(event: AnyKoaEvent): void {
    seen.add(event.id);
    if (seen.size >= target) done?.();
  }
}

@Module({ controllers: [NoopHandler] })
class BenchConsumerModule {}

export const consumerThroughput: Suite = {
  name: 'consumer-throughput',
  anchorText: 'durable pull consumer, explicit ack, JSON.parse (nats.js consume())',
  oursText: 'JetStreamTransport: schema validation + Postgres inbox idempotency + no-op @EventPattern handler + ack',
  metric: { kind: 'throughput', unit: 'events/s' },
  goal: { text: '≥ 0.5×', min: 0.5 },
  // the transport's default pull batch, and batch 1 (one message per pull and per transaction):
  // what batching buys
  variants: (ctx) => (ctx.mode === 'smoke' ? [`default batch (${DEFAULT_BATCH})`] : [`default batch (${DEFAULT_BATCH})`, 'batch 1']),
  async setup(ctx) {
    raw = await connect({ servers: ctx.natsUrl, noAsyncTraces: true });
    messaging = await Messaging.connect({ url: ctx.natsUrl, name: 'bench-consumer' });
    await messaging.ensureTopology();
    const js = jetstream(raw);
    const n = size(ctx);
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const e = createEvent(TaskCompleted, {
        id: `c-${i}`, time: '2026-01-01T00:00:00.000Z', source: 'orgo-control', tenant: TENANT,
        aggregateId: `case-${i % 50}`, actor: 'service:bench',
        data: { caseId: `case-${i % 50}`, taskId: `t-${i}`, kind: 'build', outcome: 'succeeded' },
      });
      pending.push(js.publish(subjectOf(e), new TextEncoder().encode(JSON.stringify(e)), { msgID: `${e.source}#${e.id}` }));
      if (pending.length >= 256) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    ds = await openDataSource({ url: await ctx.pgUrl('bench_consumer'), schema: 'bench' });
    inbox = new PgInboxStore(ds, 'bench');
    await inbox.ensureSchema();
  },
  async anchor(ctx, _v, round): Promise<Sample> {
    const n = size(ctx);
    const jsm = await jetstreamManager(raw!);
    const durable = `anchor-${round}`;
    const t = now();
    await jsm.consumers.add(STREAMS.events.name, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: FILTER });
    const consumer = await jetstream(raw!).consumers.get(STREAMS.events.name, durable);
    const ids = new Set<string>();
    const messages = await consumer.consume({ max_messages: 256 });
    for await (const m of messages) {
      const e = JSON.parse(new TextDecoder().decode(m.data)) as { id: string };
      ids.add(e.id);
      m.ack();
      if (ids.size >= n) break;
    }
    const s = seconds(t);
    await messages.close();
    await jsm.consumers.delete(STREAMS.events.name, durable);
    return { work: n, seconds: s, check: { ok: ids.size === n, detail: `distinct ${ids.size}/${n}` } };
  },
  async ours(ctx, variant, round): Promise<Sample> {
    const n = size(ctx);
    seen = new Set();
    target = n;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const durable = `ours-${round}`;
    const app = await NestFactory.createMicroservice(BenchConsumerModule, {
      strategy: new JetStreamTransport({ messaging: messaging!, serviceName: 'bench', inbox, consumers: [{ durable, filterSubject: FILTER, ...(variant === 'batch 1' && { batch: 1 }) }] }),
      logger: false,
    });
    const t = now();
    await app.listen();
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), stallMs(ctx))));
    const outcome = await Promise.race([finished.then(() => 'done' as const), stalled]);
    clearTimeout(timer);
    if (outcome === 'stalled') {
      await app.close();
      throw new Error(`consumer-throughput: JetStreamTransport handled ${seen.size}/${n} events within ${stallMs(ctx) / 1000} s`);
    }
    const s = seconds(t);
    await app.close();
    const jsm = await jetstreamManager(raw!);
    await jsm.consumers.delete(STREAMS.events.name, durable).catch(() => undefined);
    // every event passed the inbox exactly once for this durable
    const rows = await ds!.query(`select count(*)::int as n, count(distinct key)::int as d from bench.koa_inbox where consumer = $1`, [durable]);
    const ok = seen.size === n && rows[0].n === n && rows[0].d === n;
    return { work: n, seconds: s, check: { ok, detail: `handled ${seen.size}/${n}, inbox rows ${rows[0].n}, distinct ${rows[0].d}` } };
  },
  async teardown() {
    await ds?.destroy();
    await messaging?.close();
    await raw?.close();
    ds = undefined;
    messaging = undefined;
    raw = undefined;
  },
};
