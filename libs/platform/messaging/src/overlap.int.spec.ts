import type { INestMicroservice } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { STREAMS, dedupKey, type AnyKoaEvent } from '@koa/contracts';
import { eventually, uniqueName } from '@koa/platform/testing';
import { PgInboxStore } from '../../persistence/src/inbox';
import { DEFAULT_BATCH, KoaEventContext, Messaging, type ConsumerSpec } from './index';
import { consumerDrained, createConsumerApp } from './__fixtures__/consumer-app';
import { caseClosed } from './__fixtures__/events';
import { startInboxEnv, type InboxEnv } from './__fixtures__/inbox-env';

/** What one handler call saw, read through the inbox transaction. */
interface Call {
  readonly id: string;
  readonly deliveryCount: number;
  readonly tx: unknown;
  /** rows of this durable visible to the handler before its own insert */
  readonly visible: number;
  /** when its transaction began (`now()`) and when the handler ran (`clock_timestamp()`), µs since epoch */
  readonly txStart: number;
  readonly at: number;
}

class CountingInbox extends PgInboxStore {
  readonly keys: string[] = [];
  override runOnce<T>(consumer: string, key: string, work: (tx: unknown) => Promise<T>) {
    this.keys.push(key);
    return super.runOnce(consumer, key, work);
  }
  override runBatch<T>(consumer: string, keys: readonly string[], work: (index: number, tx: unknown) => Promise<T>) {
    this.keys.push(...keys);
    return super.runBatch(consumer, keys, work);
  }
}
interface Seen {
  readonly durable: string;
  readonly calls: Call[];
  /** ms the handler sleeps for this event id */
  delay?: (id: string) => number;
}

/** The handler: records what it saw (through the inbox transaction) in `seen`, then writes its row. */
const recorder = (seen: Seen) => async (event: AnyKoaEvent, ctx: KoaEventContext): Promise<void> => {
  const tx = ctx.tx as EntityManager;
  const ms = seen.delay?.(event.id) ?? 0;
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  const [row] = (await tx.query(
    `SELECT count(*)::int AS visible, (extract(epoch from now()) * 1e6)::bigint AS tx_start, (extract(epoch from clock_timestamp()) * 1e6)::bigint AS at FROM overlap.applied WHERE durable = $1`,
    [seen.durable],
  )) as Array<{ visible: number; tx_start: string; at: string }>;
  await tx.query('INSERT INTO overlap.applied (durable, event_id) VALUES ($1, $2)', [seen.durable, event.id]);
  seen.calls.push({ id: event.id, deliveryCount: ctx.deliveryCount, tx: ctx.tx, visible: row.visible, txStart: Number(row.tx_start), at: Number(row.at) });
};

/** Batches: runs of consecutive calls with the same transaction. */
function batchesOf(calls: readonly Call[]): Call[][] {
  const batches: Call[][] = [];
  for (const c of calls) {
    if (batches.length > 0 && batches[batches.length - 1][0].tx === c.tx) batches[batches.length - 1].push(c);
    else batches.push([c]);
  }
  return batches;
}

describe('JetStreamTransport pull-ahead and overlapping batches (real nats-server, real Postgres inbox)', () => {
  let env: InboxEnv;
  let messaging: Messaging;
  let ds: DataSource;
  let inbox: PgInboxStore;
  let apps: INestMicroservice[];

  beforeAll(async () => {
    env = await startInboxEnv({ name: 'overlap', schema: 'overlap', poolSize: 4 });
    ({ messaging, ds, inbox, apps } = env);
    await ds.query('CREATE TABLE overlap.applied (durable text NOT NULL, event_id text NOT NULL, PRIMARY KEY (durable, event_id))');
  });
  afterAll(async () => {
    await env?.dispose();
  });

  async function start(spec: Partial<ConsumerSpec>, store: PgInboxStore = inbox) {
    const tenant = uniqueName('t');
    const durable = uniqueName('ovl');
    const seen: Seen = { durable, calls: [] };
    const app = await createConsumerApp(messaging, {
      serviceName: 'overlap-test',
      inbox: store,
      consumers: [{ durable, filterSubject: `koa.evt.${tenant}.>`, backoffMs: [20], ...spec }],
      handler: recorder(seen),
    });
    return { tenant, durable, seen, app };
  }

  it('by default the durable allows two batches unacked (maxAckPending 2 × batch, at least the contract default); strict order and an explicit value keep theirs', async () => {
    const cases: Array<[Partial<ConsumerSpec>, number]> = [
      [{}, 2 * DEFAULT_BATCH],
      [{ batch: 16 }, 256],
      [{ batch: 200 }, 400],
      [{ ordering: 'strict' }, 256],
      [{ maxAckPending: 100 }, 100],
    ];
    for (const [spec, expected] of cases) {
      const { durable, app } = await start(spec);
      await app.listen();
      apps.push(app);
      const info = await messaging.jsm.consumers.info(STREAMS.events.name, durable);
      expect([spec, info.config.max_ack_pending]).toEqual([spec, expected]);
    }
  });

  it('the next batch begins while the previous one commits, yet each handler sees every write of the batches before it; stream order kept, each applied once', async () => {
    const { tenant, durable, seen, app } = await start({ batch: 8 });
    const events = Array.from({ length: 160 }, (_, i) => caseClosed(tenant, `c${i % 5}`, i));
    for (const e of events) await messaging.append([e]);
    // each handler takes a few ms, so a batch runs for tens of ms: the window in which the next batch
    // (pulled ahead meanwhile) begins is not left to how fast a loaded machine runs two queries
    seen.delay = () => 5;
    await app.listen();
    apps.push(app);
    await eventually(() => seen.calls.length >= events.length, { what: '160 handled', timeoutMs: 30_000 });
    await consumerDrained(messaging, durable);
    const { calls } = seen;
    expect(calls).toHaveLength(events.length);
    expect(calls.map((c) => c.id)).toEqual(events.map((e) => e.id));
    // every earlier event's row was visible: committed by an earlier batch, or written earlier in this one
    expect(calls.map((c) => c.visible)).toEqual(calls.map((_, i) => i));
    const batches = batchesOf(calls);
    expect(batches.length).toBeGreaterThan(1);
    // overlap happened: some batch's transaction began before the previous batch's last handler had run
    const overlapped = batches.slice(1).filter((b, i) => b[0].txStart < Math.max(...batches[i].map((c) => c.at)));
    expect(overlapped.length).toBeGreaterThan(0);
    const rows = (await ds.query('SELECT count(*)::int AS n FROM overlap.applied WHERE durable = $1', [durable])) as Array<{ n: number }>;
    expect(rows[0].n).toBe(events.length);
  });

  it('the messages waiting for a slow batch (the next batch, and those pulled ahead) are kept alive with it: none is redelivered', async () => {
    // every key the transport hands to the inbox: a redelivery would show up twice (answered as a duplicate, no handler call)
    const counting = new CountingInbox(ds, 'overlap');
    await counting.ensureSchema();
    const { tenant, durable, seen, app } = await start({ batch: 4, ackWaitMs: 1500 }, counting);
    const events = Array.from({ length: 16 }, (_, i) => caseClosed(tenant, `c${i % 5}`, i));
    for (const e of events) await messaging.append([e]);
    const slow = new Set(events.slice(0, 4).map((e) => e.id));
    // the first batch takes ~2.4 s, longer than the ack wait, progressing every ~600 ms (each step
    // > ackWait/3, so each one extends the deadlines): a deadline lapses only if a keep-alive is
    // ~900 ms late (with 200 ms steps under a 400 ms ack wait, 200 ms of load did it)
    seen.delay = (id) => (slow.has(id) ? 600 : 0);
    await app.listen();
    apps.push(app);
    await eventually(() => seen.calls.length >= events.length, { what: '16 handled', timeoutMs: 30_000 });
    await consumerDrained(messaging, durable);
    expect(seen.calls.map((c) => [c.id, c.deliveryCount])).toEqual(events.map((e) => [e.id, 1]));
    expect(counting.keys).toEqual(events.map((e) => dedupKey(e)));
  });

  it('without statement snapshots (before ensureSchema) a batch begins only after the previous one committed', async () => {
    const store = new PgInboxStore(ds, 'overlap'); // same table, but this instance never ran ensureSchema
    expect(store.statementSnapshots).toBe(false);
    const { tenant, seen, app } = await start({ batch: 8 }, store);
    const events = Array.from({ length: 80 }, (_, i) => caseClosed(tenant, `c${i % 5}`, i));
    for (const e of events) await messaging.append([e]);
    await app.listen();
    apps.push(app);
    await eventually(() => seen.calls.length >= events.length, { what: '80 handled', timeoutMs: 30_000 });
    const { calls } = seen;
    expect(calls.map((c) => c.id)).toEqual(events.map((e) => e.id));
    expect(calls.map((c) => c.visible)).toEqual(calls.map((_, i) => i));
    const batches = batchesOf(calls);
    expect(batches.length).toBeGreaterThan(1);
    for (let i = 1; i < batches.length; i++) expect(batches[i][0].txStart).toBeGreaterThanOrEqual(Math.max(...batches[i - 1].map((c) => c.at)));
  });
});
