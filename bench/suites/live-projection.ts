import { Client } from 'pg';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { STREAMS } from '@koa/contracts';
import { Messaging } from '@koa/platform/messaging';
import { eventually } from '@koa/platform/testing';
import { bySize, now, seconds, stallMs, type BenchContext, type Sample, type Suite } from '../harness';
import { pipelined, startSuiteStack, type SuiteStack } from './common';
import { EVENTS_PER_CASE, storyEvents } from './story-events';

/**
 * live projection: the audit-ledger process keeping up with a live stream — per delivered batch,
 * in one transaction: inbox dedupe, the head lock, and per event the hash-chain append and every
 * projection (stream order kept by the ledger's fence and parking) — against
 * the raw floor of "one Postgres transaction per event": a durable pull consumer that inserts each
 * event in its own transaction and then acks. Both sides are measured from the first publish of a
 * burst until the last event is committed. The ledger runs on a private nats-server with exactly
 * this suite's events; the anchor on the bench's.
 */
const casesOf = (ctx: BenchContext): number => bySize(ctx, { smoke: 20, quick: 100, full: 400 });

let stack: SuiteStack | undefined;
let ledgerDb: Client | undefined;
let anchorDb: Client | undefined;
let gwNc: NatsConnection | undefined;
let anchorNc: NatsConnection | undefined;
let anchorIter: ConsumerMessages | undefined;
let anchorLoop: Promise<void> | undefined;
let anchorError: unknown;
let roundTag = 0;
const ANCHOR_TENANT = 'liveanchor';
const ANCHOR_DURABLE = 'bench-live-anchor';

async function ledgerSize(): Promise<number> {
  const { rows } = await ledgerDb!.query('SELECT size FROM ledger.head WHERE id = 1');
  return Number(rows[0]?.size ?? 0);
}

export const liveProjection: Suite = {
  name: 'live-projection',
  anchorText: 'durable pull consumer, one Postgres transaction (INSERT) per event, then ack',
  oursText: 'audit-ledger process: inbox + hash-chain append + every projection per event, one transaction per delivered batch',
  metric: { kind: 'throughput', unit: 'events/s' },
  goal: { text: '≥ 0.5×', min: 0.5 },
  variants: (ctx) => [`${casesOf(ctx) * EVENTS_PER_CASE} events per burst`],
  async setup(ctx) {
    stack = await startSuiteStack(ctx, 'bench_live', ['audit-ledger']);
    ledgerDb = new Client({ connectionString: stack.databaseUrl });
    await ledgerDb.connect();
    gwNc = await connect({ servers: stack.nats.url, noAsyncTraces: true });
    // the anchor: its own table and a durable consumer on the bench's nats-server, running live
    const m = await Messaging.connect({ url: ctx.natsUrl, name: 'bench-live-topology' });
    await m.ensureTopology();
    await m.close();
    anchorDb = new Client({ connectionString: await ctx.pgUrl('bench_live_anchor') });
    await anchorDb.connect();
    await anchorDb.query('CREATE TABLE events (seq bigint PRIMARY KEY, event_id text NOT NULL UNIQUE, data jsonb NOT NULL)');
    anchorNc = await connect({ servers: ctx.natsUrl, noAsyncTraces: true });
    const jsm = await jetstreamManager(anchorNc);
    await jsm.consumers.add(STREAMS.events.name, { durable_name: ANCHOR_DURABLE, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, filter_subject: `koa.evt.${ANCHOR_TENANT}.>` });
    const consumer = await jetstream(anchorNc).consumers.get(STREAMS.events.name, ANCHOR_DURABLE);
    anchorIter = await consumer.consume();
    anchorLoop = (async () => {
      for await (const msg of anchorIter!) {
        try {
          const text = Buffer.from(msg.data).toString('utf8');
          const e = JSON.parse(text) as { id: string };
          await anchorDb!.query('BEGIN');
          await anchorDb!.query('INSERT INTO events (seq, event_id, data) VALUES ($1, $2, $3) ON CONFLICT (seq) DO NOTHING', [msg.seq, e.id, text]);
          await anchorDb!.query('COMMIT');
          msg.ack();
        } catch (err) {
          anchorError = err;
          await anchorDb!.query('ROLLBACK').catch(() => undefined);
          msg.nak();
        }
      }
    })();
  },
  async anchor(ctx): Promise<Sample> {
    const messages = storyEvents(ANCHOR_TENANT, casesOf(ctx), `la${++roundTag}`);
    const { rows: before } = await anchorDb!.query('SELECT count(*)::int AS n FROM events');
    const js = jetstream(anchorNc!);
    const t = now();
    await pipelined(messages, 256, (m) => js.publish(m.subject, m.bytes, { msgID: m.msgId }));
    await eventually(async () => (await anchorDb!.query('SELECT count(*)::int AS n FROM events')).rows[0].n - before[0].n >= messages.length, { timeoutMs: stallMs(ctx), intervalMs: 20, what: 'anchor caught up' });
    const s = seconds(t);
    const { rows } = await anchorDb!.query('SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM events');
    const added = rows[0].n - before[0].n;
    const ok = added === messages.length && rows[0].d === rows[0].n && anchorError === undefined;
    return { work: messages.length, seconds: s, check: { ok, detail: `committed ${added}/${messages.length}, distinct ids ${rows[0].d}/${rows[0].n}${anchorError ? `; error ${String(anchorError)}` : ''}` } };
  },
  async ours(ctx): Promise<Sample> {
    const messages = storyEvents('live', casesOf(ctx), `lo${++roundTag}`);
    const before = await ledgerSize();
    const js = jetstream(gwNc!);
    const t = now();
    await pipelined(messages, 256, (m) => js.publish(m.subject, m.bytes, { msgID: m.msgId }));
    await eventually(async () => (await ledgerSize()) - before >= messages.length, { timeoutMs: stallMs(ctx), intervalMs: 20, what: 'audit-ledger caught up' });
    const s = seconds(t);
    const added = (await ledgerSize()) - before;
    // the chain the ledger built verifies end to end, and the Cases of this burst are projected
    const verify = (await (await fetch(`${stack!.stack.services['audit-ledger']!.url}/v1/ledger/verify`)).json()) as { ok?: boolean; size?: number };
    const { rows } = await ledgerDb!.query(`SELECT count(*)::int AS n FROM ledger.cases WHERE case_id LIKE $1`, [`case-lo${roundTag}-%`]);
    const cases = casesOf(ctx);
    const ok = added === messages.length && verify.ok === true && rows[0].n === cases;
    return { work: messages.length, seconds: s, check: { ok, detail: `ledger entries +${added}/${messages.length}, chain ${verify.ok ? `verifies (${verify.size})` : `DOES NOT VERIFY ${JSON.stringify(verify).slice(0, 120)}`}, cases projected ${rows[0].n}/${cases}` } };
  },
  async teardown() {
    await anchorIter?.close().catch(() => undefined);
    await anchorLoop?.catch(() => undefined);
    if (anchorNc) await (await jetstreamManager(anchorNc)).consumers.delete(STREAMS.events.name, ANCHOR_DURABLE).catch(() => undefined);
    await anchorNc?.close().catch(() => undefined);
    await anchorDb?.end().catch(() => undefined);
    await gwNc?.close().catch(() => undefined);
    await ledgerDb?.end().catch(() => undefined);
    await stack?.stop();
    stack = undefined;
    anchorNc = undefined;
    gwNc = undefined;
  },
};
