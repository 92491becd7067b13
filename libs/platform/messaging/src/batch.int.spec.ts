import type { DataSource, EntityManager } from 'typeorm';
import { KoaRefusal, dedupKey, type AnyKoaEvent } from '@koa/contracts';
import { eventually, uniqueName } from '@koa/platform/testing';
import { PgInboxStore } from '../../persistence/src/inbox';
import { KoaEventContext, Messaging, type ConsumerSpec } from './index';
import { callOf, consumerDrained, deadLetterRecord, startConsumerApp, type Call } from './__fixtures__/consumer-app';
import { caseClosed } from './__fixtures__/events';
import { startInboxEnv, type InboxEnv } from './__fixtures__/inbox-env';

describe('JetStreamTransport batches (real nats-server, real Postgres inbox)', () => {
  let env: InboxEnv;
  let messaging: Messaging;
  let ds: DataSource;
  let inbox: PgInboxStore;

  beforeAll(async () => {
    env = await startInboxEnv({ name: 'batch', schema: 'batch', poolSize: 4 });
    ({ messaging, ds, inbox } = env);
    await ds.query('CREATE TABLE batch.applied (durable text NOT NULL, event_id text NOT NULL, delivery int NOT NULL, PRIMARY KEY (durable, event_id))');
    // checked at COMMIT: a row with a dangling parent makes the batch's commit itself fail
    await ds.query('CREATE TABLE batch.poison (id text PRIMARY KEY, parent text REFERENCES batch.poison (id) DEFERRABLE INITIALLY DEFERRED)');
  });
  afterAll(async () => {
    await env?.dispose();
  });

  /**
   * Publishes `n` events first, then starts the consumer. By default the consumer pulls `n` at a
   * time and lingers (`batchWaitMs`) until all `n` have arrived, so they form one batch however the
   * server's deliveries are split across network reads on a loaded machine.
   */
  async function run(n: number, behaviour: (e: AnyKoaEvent, ctx: KoaEventContext, call: Call) => Promise<void>, spec: Partial<ConsumerSpec> = {}) {
    const tenant = uniqueName('t');
    const durable = uniqueName('batch');
    const events = Array.from({ length: n }, (_, i) => caseClosed(tenant, `c${i % 3}`, i));
    for (const e of events) await messaging.append([e]);
    const calls: Call[] = [];
    await startConsumerApp(env, {
      serviceName: 'batch-test',
      inbox,
      consumers: [{ durable, filterSubject: `koa.evt.${tenant}.>`, backoffMs: [20], batch: n, batchWaitMs: 10_000, ...spec }],
      handler: async (e, ctx) => {
        const call = callOf(e, ctx);
        calls.push(call);
        await (ctx.tx as EntityManager).query('INSERT INTO batch.applied (durable, event_id, delivery) VALUES ($1, $2, $3)', [durable, e.id, ctx.deliveryCount]);
        await behaviour(e, ctx, call);
      },
    });
    const drained = () => consumerDrained(messaging, durable);
    const applied = async () =>
      (await ds.query('SELECT event_id, delivery FROM batch.applied WHERE durable = $1 ORDER BY event_id', [durable])) as Array<{ event_id: string; delivery: number }>;
    return { tenant, durable, events, calls, drained, applied };
  }

  it('a failing handler in the middle of a batch is rolled back and redelivered alone; its neighbours commit once', async () => {
    const { durable, events, calls, drained, applied } = await run(10, async (e, ctx) => {
      if (e.id.endsWith('-4') && ctx.deliveryCount === 1) throw new Error('transient failure of the 5th message');
    });
    await eventually(() => calls.length === 11, { what: '10 first attempts and 1 retry' });
    await drained();
    const first = calls.slice(0, 10);
    expect(first.map((c) => c.id)).toEqual(events.map((e) => e.id));
    expect(new Set(first.map((c) => c.tx)).size).toBe(1); // one batch, one transaction
    expect(calls[10]).toMatchObject({ id: events[4].id, deliveryCount: 2 });
    // the failed attempt's row was rolled back with its savepoint; the neighbours' rows survived
    expect(await applied()).toEqual(events.map((e, i) => ({ event_id: e.id, delivery: i === 4 ? 2 : 1 })).sort((a, b) => a.event_id.localeCompare(b.event_id)));
    for (const e of events) expect(await inbox.has(durable, dedupKey(e))).toBe(true);
  });

  it('a permanent refusal in the middle of a batch is dead-lettered alone; the others are applied and acked', async () => {
    const { durable, events, calls, drained, applied } = await run(6, async (e) => {
      if (e.id.endsWith('-2')) throw new KoaRefusal('HANDLER_REJECTED', `refusing ${e.id}`);
    });
    await eventually(() => calls.length === 6, { what: 'every message handled once' });
    await drained();
    expect(new Set(calls.map((c) => c.tx)).size).toBe(1);
    const record = await deadLetterRecord(messaging, durable);
    expect(record.headers['Koa-Refusal-Code']).toBe('HANDLER_REJECTED');
    expect(record.headers['Koa-Original-Seq']).toBe(String(calls[2].seq));
    expect((await applied()).map((r) => r.event_id)).toEqual(events.filter((_, i) => i !== 2).map((e) => e.id).sort());
    expect(await inbox.has(durable, dedupKey(events[2]))).toBe(false);
    expect(await inbox.has(durable, dedupKey(events[3]))).toBe(true);
  });

  it('a commit failure acks nothing: every message of the batch is redelivered (each alone) and applied on its second delivery', async () => {
    const { durable, events, calls, drained, applied } = await run(5, async (e, ctx) => {
      // the first delivery of the 3rd message leaves a row that violates a deferred constraint: COMMIT fails
      if (e.id.endsWith('-2') && ctx.deliveryCount === 1) await (ctx.tx as EntityManager).query('INSERT INTO batch.poison (id, parent) VALUES ($1, $2)', [e.id, 'missing']);
    });
    await eventually(() => calls.length >= 10, { what: 'all five delivered twice' });
    await drained();
    const first = calls.slice(0, 5);
    expect(first.every((c) => c.deliveryCount === 1)).toBe(true);
    expect(new Set(first.map((c) => c.tx)).size).toBe(1);
    // nothing of the failed batch was acked: each message came back exactly once more
    expect(calls.slice(5).map((c) => [c.id, c.deliveryCount]).sort()).toEqual(events.map((e) => [e.id, 2]).sort());
    expect(calls).toHaveLength(10);
    // redeliveries go one per batch: a message that kept failing could not spend its neighbours' budget
    expect(new Set(calls.slice(5).map((c) => c.tx)).size).toBe(5);
    expect(await applied()).toEqual(events.map((e) => ({ event_id: e.id, delivery: 2 })).sort((a, b) => a.event_id.localeCompare(b.event_id)));
    for (const e of events) expect(await inbox.has(durable, dedupKey(e))).toBe(true);
  });

  it('keeps stream order within a consumer across many batches (300 events, batch 32), each applied once', async () => {
    const { events, calls, drained, applied } = await run(300, async () => undefined, { batch: 32, batchWaitMs: 0 });
    await eventually(() => calls.length >= 300, { what: '300 handled', timeoutMs: 30_000 });
    await drained();
    expect(calls).toHaveLength(300);
    expect(calls.map((c) => c.id)).toEqual(events.map((e) => e.id));
    for (let i = 1; i < calls.length; i++) expect(calls[i].seq).toBeGreaterThan(calls[i - 1].seq);
    expect(new Set(calls.map((c) => c.tx)).size).toBeLessThan(300); // batched: fewer transactions than messages
    expect(await applied()).toHaveLength(300);
  });
});
