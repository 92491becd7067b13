import type { DataSource, EntityManager } from 'typeorm';
import { KoaRefusal, dedupKey, type AnyKoaEvent } from '@koa/contracts';
import { eventually, uniqueName } from '@koa/platform/testing';
import { PgInboxStore } from '../../persistence/src/inbox';
import { JetStreamTransport, KoaEventContext, Messaging, type ConsumerSpec, type InboxStore } from './index';
import { callOf, consumerDrained, deadLetterRecord, startConsumerApp, type Call } from './__fixtures__/consumer-app';
import { caseClosed } from './__fixtures__/events';
import { startInboxEnv, type InboxEnv } from './__fixtures__/inbox-env';

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('JetStreamTransport ordering and concurrency (real nats-server, real Postgres inbox)', () => {
  let env: InboxEnv;
  let messaging: Messaging;
  let ds: DataSource;
  let inbox: PgInboxStore;

  beforeAll(async () => {
    env = await startInboxEnv({ name: 'ordering', schema: 'ord', poolSize: 12 });
    ({ messaging, ds, inbox } = env);
    // `n` is the order in which the rows were applied (a rolled-back savepoint only leaves a gap)
    await ds.query('CREATE TABLE ord.applied (n bigserial, durable text NOT NULL, event_id text NOT NULL, delivery int NOT NULL, PRIMARY KEY (durable, event_id))');
  });
  afterAll(async () => {
    await env?.dispose();
  });

  /** Publishes `n` events first (so that they arrive in as few pulls as possible), then starts the consumer. */
  async function run(n: number, behaviour: (e: AnyKoaEvent, ctx: KoaEventContext) => Promise<void>, spec: Partial<ConsumerSpec>, o: { inbox?: InboxStore | null; replicas?: number; publishLater?: boolean } = {}) {
    const tenant = uniqueName('t');
    const durable = uniqueName('ord');
    const events = Array.from({ length: n }, (_, i) => caseClosed(tenant, `c${i % 3}`, i));
    if (!o.publishLater) for (const e of events) await messaging.append([e]);
    const calls: Call[] = [];
    const store = o.inbox === undefined ? inbox : (o.inbox ?? undefined);
    const handler = async (e: AnyKoaEvent, ctx: KoaEventContext) => {
      calls.push(callOf(e, ctx));
      await behaviour(e, ctx);
      if (ctx.tx) await (ctx.tx as EntityManager).query('INSERT INTO ord.applied (durable, event_id, delivery) VALUES ($1, $2, $3)', [durable, e.id, ctx.deliveryCount]);
    };
    for (let r = 0; r < (o.replicas ?? 1); r++) {
      await startConsumerApp(env, { serviceName: 'ordering-test', inbox: store, consumers: [{ durable, filterSubject: `koa.evt.${tenant}.>`, backoffMs: [40], ...spec }], handler });
    }
    const drained = () => consumerDrained(messaging, durable);
    /** applied rows in the order they were applied */
    const applied = async () =>
      ((await ds.query('SELECT event_id, delivery FROM ord.applied WHERE durable = $1 ORDER BY n', [durable])) as Array<{ event_id: string; delivery: number }>);
    const dlq = () => deadLetterRecord(messaging, durable);
    return { durable, events, calls, drained, applied, dlq };
  }

  /** Appends `events` one by one, `gapMs` apart (a trickle). */
  async function trickle(events: readonly AnyKoaEvent[], gapMs: number): Promise<void> {
    for (const e of events) {
      await messaging.append([e]);
      await pause(gapMs);
    }
  }

  describe("ordering: 'strict'", () => {
    it('refuses concurrency > 1 and an unknown ordering with CONFIG_INVALID', () => {
      const make = (c: Partial<ConsumerSpec>) => () => new JetStreamTransport({ messaging, serviceName: 'x', consumers: [{ durable: 'x', filterSubject: 'koa.evt.>', ...c }] });
      expect(make({ ordering: 'strict', concurrency: 2 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
      expect(make({ ordering: 'fifo' as 'strict' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
      expect(make({ concurrency: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
      expect(make({ ordering: 'strict', concurrency: 1 })).not.toThrow();
    });

    it.each([
      ['maxAckPending > batch: later messages are pulled while it waits', 12],
      ['maxAckPending = batch: exhausted while it waits, the redelivery still arrives', 4],
    ])('a failure in the middle of a batch stops it: earlier ones commit, it is retried first, later ones wait (not run, budget unspent), stream order kept (%s)', async (_, maxAckPending) => {
      const { durable, events, calls, drained, applied } = await run(
        12,
        async (e, ctx) => {
          if (e.id.endsWith('-5') && ctx.deliveryCount <= 2) throw new Error(`transient failure of the 6th message (delivery ${ctx.deliveryCount})`);
        },
        { ordering: 'strict', batch: 4, maxAckPending },
      );
      await eventually(() => calls.length === 14, { what: '12 messages, the 6th tried three times' });
      await drained();
      const ids = events.map((e) => e.id);
      // handled strictly in stream order: nothing after the 6th ran before it succeeded
      expect(calls.map((c) => c.id)).toEqual([...ids.slice(0, 6), ids[5], ids[5], ...ids.slice(6)]);
      expect(calls.filter((c) => c.id === ids[5]).map((c) => c.deliveryCount)).toEqual([1, 2, 3]);
      // the messages that waited were never handed back: first delivery each
      expect(calls.filter((c) => c.id !== ids[5]).every((c) => c.deliveryCount === 1)).toBe(true);
      expect(await applied()).toEqual(events.map((e, i) => ({ event_id: e.id, delivery: i === 5 ? 3 : 1 })));
      for (const e of events) expect(await inbox.has(durable, dedupKey(e))).toBe(true);
    });

    it('a poison message is dead-lettered on its last attempt and the later ones then proceed, in order, each once', async () => {
      const { durable, events, calls, drained, applied, dlq } = await run(
        8,
        async (e) => {
          if (e.id.endsWith('-3')) throw new Error('poison: always fails');
        },
        { ordering: 'strict', maxDeliver: 3 },
      );
      await eventually(() => calls.length === 10, { what: '8 messages, the poison one three times' });
      await drained();
      const ids = events.map((e) => e.id);
      expect(calls.map((c) => c.id)).toEqual([...ids.slice(0, 4), ids[3], ids[3], ...ids.slice(4)]);
      expect(calls.filter((c) => c.id !== ids[3]).every((c) => c.deliveryCount === 1)).toBe(true);
      const record = await dlq();
      expect(record.headers['Koa-Refusal-Code']).toBe('MAX_DELIVER_EXCEEDED');
      expect(record.headers['Koa-Original-Seq']).toBe(String(calls[3].seq));
      expect(record.headers['Koa-Delivery-Count']).toBe('3');
      expect(await applied()).toEqual(events.filter((_, i) => i !== 3).map((e) => ({ event_id: e.id, delivery: 1 })));
      expect(await inbox.has(durable, dedupKey(events[3]))).toBe(false);
    });

    it('a non-retryable refusal is dead-lettered at once and does not stop the batch (one transaction)', async () => {
      const { durable, events, calls, drained, applied, dlq } = await run(
        6,
        async (e) => {
          if (e.id.endsWith('-2')) throw new KoaRefusal('HANDLER_REJECTED', `refusing ${e.id}`);
        },
        // pull 6 and linger until all 6 have arrived: one batch however a loaded machine splits the deliveries
        { ordering: 'strict', batch: 6, batchWaitMs: 10_000 },
      );
      await eventually(() => calls.length === 6, { what: 'every message handled once' });
      await drained();
      expect(calls.map((c) => c.id)).toEqual(events.map((e) => e.id));
      expect(new Set(calls.map((c) => c.tx)).size).toBe(1);
      expect((await dlq()).headers['Koa-Refusal-Code']).toBe('HANDLER_REJECTED');
      expect(await applied()).toEqual(events.filter((_, i) => i !== 2).map((e) => ({ event_id: e.id, delivery: 1 })));
      expect(await inbox.has(durable, dedupKey(events[2]))).toBe(false);
    });

    it('a batch whose transaction fails to commit is retried from its first message, in order, nothing lost or applied twice', async () => {
      await ds.query('CREATE TABLE IF NOT EXISTS ord.poison (id text PRIMARY KEY, parent text REFERENCES ord.poison (id) DEFERRABLE INITIALLY DEFERRED)');
      let poisoned = false;
      const { durable, events, calls, drained, applied } = await run(
        5,
        async (e, ctx) => {
          // the first run of the 3rd message leaves a row that violates a deferred constraint: its batch's COMMIT fails
          if (e.id.endsWith('-2') && !poisoned) {
            poisoned = true;
            await (ctx.tx as EntityManager).query('INSERT INTO ord.poison (id, parent) VALUES ($1, $2)', [e.id, 'missing']);
          }
        },
        // pull 5 and linger until all 5 have arrived: ONE batch, however a loaded machine splits the
        // deliveries (split as [0..3] + [4], the failed batch would stop before the 5th ever ran).
        // 2 s, not longer: the five are already stored, and after the retry the four kept messages
        // linger too (for a 5th that never comes) while their ack deadlines run
        { ordering: 'strict', batch: 5, batchWaitMs: 2_000 },
      );
      await eventually(async () => (await applied()).length === 5, { what: 'all five applied' });
      await drained();
      const ids = events.map((e) => e.id);
      // the failed batch (all five) is retried from its first message: from there everything ran again,
      // in order; only its first message was handed back, the others waited for it (still their first delivery)
      const retried = calls.findIndex((c) => c.deliveryCount === 2);
      expect(retried).toBe(5);
      const from = ids.indexOf(calls[retried].id);
      expect(from).toBe(0);
      expect(calls.map((c) => c.id)).toEqual([...ids, ...ids.slice(from)]);
      expect(calls.slice(retried).map((c) => c.deliveryCount)).toEqual(ids.slice(from).map((_, i) => (i === 0 ? 2 : 1)));
      expect((await applied()).map((r) => r.event_id)).toEqual(ids);
      for (const e of events) expect(await inbox.has(durable, dedupKey(e))).toBe(true);
    });
  });

  it('two replicas in strict mode on one durable: a failed message taken by the other replica stalls nothing for good and loses nothing; each applied once', async () => {
    const { durable, events, calls, drained, applied } = await run(
      40,
      async (e, ctx) => {
        if ((e.id.endsWith('-5') || e.id.endsWith('-21')) && ctx.deliveryCount === 1) throw new Error('transient failure');
      },
      { ordering: 'strict', batch: 4, maxAckPending: 8 },
      { replicas: 2 },
    );
    await eventually(async () => (await applied()).length === 40, { what: 'all 40 applied', timeoutMs: 30_000 });
    await drained();
    expect(new Set((await applied()).map((r) => r.event_id))).toEqual(new Set(events.map((e) => e.id)));
    // without a fence in the handler, order across replicas is not promised: messages a replica kept
    // for a failed message the other replica took are handed back once (delivery 2), never lost
    const retried = new Set(calls.filter((c) => c.deliveryCount > 1).map((c) => c.id));
    expect(retried.has(events[5].id) && retried.has(events[21].id)).toBe(true);
    for (const e of events) expect(await inbox.has(durable, dedupKey(e))).toBe(true);
  });

  describe('batchWaitMs', () => {
    it('messages that trickle in share one batch (one transaction) when the consumer waits for them; without waiting they do not', async () => {
      const waiting = await run(5, async () => undefined, { batch: 5, batchWaitMs: 10_000 }, { publishLater: true });
      await trickle(waiting.events, 30);
      await eventually(async () => (await waiting.applied()).length === 5, { what: 'five applied' });
      await waiting.drained();
      expect(waiting.calls.map((c) => c.id)).toEqual(waiting.events.map((e) => e.id));
      expect(new Set(waiting.calls.map((c) => c.tx)).size).toBe(1);

      const eager = await run(5, async () => undefined, {}, { publishLater: true });
      await trickle(eager.events, 100);
      await eventually(async () => (await eager.applied()).length === 5, { what: 'five applied' });
      expect(new Set(eager.calls.map((c) => c.tx)).size).toBeGreaterThan(1);
      expect(() => new JetStreamTransport({ messaging, serviceName: 'x', consumers: [{ durable: 'x', filterSubject: 'koa.evt.>', batchWaitMs: -1 }] })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });
    it('a partial batch does not wait out batchWaitMs once its pull has ended (nothing more can arrive)', async () => {
      // 3 stored messages, a pull of 64 that ends at its 2 s expiry, a linger of 60 s: the
      // processor is woken when the pull ends and applies the three long before the linger would end
      const partial = await run(3, async () => undefined, { batch: 64, batchWaitMs: 60_000, ackWaitMs: 90_000 });
      await eventually(async () => (await partial.applied()).length === 3, { what: 'three applied when the pull ended', timeoutMs: 20_000 });
      await partial.drained();
      expect(partial.calls.map((c) => c.id)).toEqual(partial.events.map((e) => e.id));
      expect(new Set(partial.calls.map((c) => c.tx)).size).toBe(1);
    });
  });

  describe('concurrency', () => {
    it('runs up to N messages of a batch at once, each lane in its own transaction; a failing one is retried alone; nothing lost or duplicated', async () => {
      let inFlight = 0;
      let maxInFlight = 0;
      const { durable, events, calls, drained, applied } = await run(
        40,
        async (e, ctx) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          try {
            await pause(20); // hold the message so that overlap is observable
            if (e.id.endsWith('-7') && ctx.deliveryCount === 1) throw new Error('transient failure of one message');
          } finally {
            inFlight--;
          }
        },
        { concurrency: 8 },
      );
      await eventually(() => calls.length === 41, { what: '40 messages and one retry' });
      await drained();
      expect(maxInFlight).toBeGreaterThan(1);
      expect(maxInFlight).toBeLessThanOrEqual(8);
      const first = calls.filter((c) => c.deliveryCount === 1);
      expect(new Set(first.map((c) => c.tx)).size).toBeGreaterThan(1); // several transactions at once
      expect(calls.filter((c) => c.deliveryCount > 1).map((c) => c.id)).toEqual([events[7].id]);
      const rows = await applied();
      expect(rows).toHaveLength(40);
      expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(events.map((e) => e.id)));
      expect(rows.find((r) => r.event_id === events[7].id)?.delivery).toBe(2);
      for (const e of events) expect(await inbox.has(durable, dedupKey(e))).toBe(true);
    });

    it("a consumer with inbox: false runs without the transport's inbox (no record, no transaction) — here as a pool of N", async () => {
      let inFlight = 0;
      let maxInFlight = 0;
      const { durable, events, calls, drained } = await run(
        16,
        async (_, ctx) => {
          expect(ctx.tx).toBeUndefined();
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await pause(20);
          inFlight--;
        },
        { concurrency: 4, inbox: false },
      );
      await eventually(() => calls.length === 16, { what: '16 handled' });
      await drained();
      expect(maxInFlight).toBeGreaterThan(1);
      expect(maxInFlight).toBeLessThanOrEqual(4);
      expect(calls.map((c) => c.id).sort()).toEqual(events.map((e) => e.id).sort());
      for (const e of events) expect(await inbox.has(durable, dedupKey(e))).toBe(false);
      expect(() => new JetStreamTransport({ messaging, serviceName: 'x', consumers: [{ durable: 'x', filterSubject: 'koa.evt.>', inbox: true as unknown as false }] })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });

    it('without an inbox: a pool of N handlers, each message once', async () => {
      let inFlight = 0;
      let maxInFlight = 0;
      const { events, calls, drained } = await run(
        24,
        async () => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await pause(20);
          inFlight--;
        },
        { concurrency: 6 },
        { inbox: null },
      );
      await eventually(() => calls.length === 24, { what: '24 handled' });
      await drained();
      expect(maxInFlight).toBeGreaterThan(1);
      expect(maxInFlight).toBeLessThanOrEqual(6);
      expect(calls.map((c) => c.id).sort()).toEqual(events.map((e) => e.id).sort());
    });
  });
});
