import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { connect } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { filters, STREAMS, type Digest } from '@koa/contracts';
import { LEDGER_ENTITIES, LEDGER_MIGRATIONS, readHead, rebuildProjections } from '@koa/ledger/data-access';
import { CHAIN_START, nextEntry, PROJECTION_TABLES, type RecordableEnvelope } from '@koa/ledger/domain';
import { jetStreamReplaySource } from '@koa/ledger/feature';
import { Messaging } from '@koa/platform/messaging';
import { openDataSource, type DataSource } from '@koa/platform/persistence';
import { PrivateNatsServer } from '@koa/platform/testing';
import { bySize, now, seconds, withPeakRss, type BenchContext, type Sample, type Suite } from '../harness';
import { onAbort, pipelined } from './common';
import { EVENTS_PER_CASE, storyEvents } from './story-events';

/**
 * ledger rebuild: audit-ledger's full replay (`rebuildProjections` over `jetStreamReplaySource`:
 * truncate every projection, replay KOA_EVENTS from sequence 1 with an ordered consumer, check
 * each message against its ledger entry, evolve the projections) against the raw floor of the
 * same job: an ordered consumer over the same stream feeding prepared 500-row multi-row INSERTs
 * in one transaction. A private nats-server holds exactly this suite's events.
 *
 * Setup records the chain entries the live ledger would have written (same `nextEntry`), in
 * bulk, so only the replay is measured.
 */
const TENANT = 'rebuild';
const casesOf = (ctx: BenchContext): number => bySize(ctx, { smoke: 100, quick: 1_000, full: Math.ceil(100_000 / EVENTS_PER_CASE) });
const BATCH = 500;

let nats: PrivateNatsServer | undefined;
let raw: NatsConnection | undefined;
let messaging: Messaging | undefined;
let ds: DataSource | undefined;
let pg: Client | undefined;
let total = 0;
let expectedProjection: string | undefined;
let unregister: (() => void) | undefined;

/** Digest + row counts of every projection table (read with the tenant set, as RLS requires). */
async function projectionDigest(): Promise<{ digest: string; counts: Record<string, number> }> {
  return ds!.transaction(async (em) => {
    await em.query(`SELECT set_config('koa.tenant', $1, true)`, [TENANT]);
    const h = createHash('sha256');
    const counts: Record<string, number> = {};
    for (const t of PROJECTION_TABLES) {
      const rows: Array<{ j: string }> = await em.query(`SELECT row_to_json(x)::text AS j FROM ledger.${t} x`);
      const lines = rows.map((r) => r.j.replace(/"(rebuilt_at|updated_at|created_at)":"[^"]*"/g, '')).sort();
      counts[t] = lines.length;
      h.update(`${t}\n${lines.join('\n')}\n`);
    }
    return { digest: h.digest('hex'), counts };
  });
}

export const ledgerRebuild: Suite = {
  name: 'ledger-rebuild',
  anchorText: 'ordered consumer over KOA_EVENTS + prepared 500-row multi-row INSERT, one transaction',
  oursText: 'audit-ledger rebuildProjections: truncate, replay from seq 1 (jetStreamReplaySource), check each entry digest, evolve every projection',
  metric: { kind: 'throughput', unit: 'events/s' },
  goal: { text: '≥ 0.65×', min: 0.65 },
  // 100k events per side per round: three alternating rounds keep the full run bounded
  rounds: () => 3,
  variants: (ctx) => [`${casesOf(ctx) * EVENTS_PER_CASE} events`],
  async setup(ctx) {
    nats = await PrivateNatsServer.start();
    unregister = onAbort(() => nats!.dispose());
    raw = await connect({ servers: nats.url, noAsyncTraces: true });
    messaging = await Messaging.connect({ url: nats.url, name: 'bench-rebuild' });
    await messaging.ensureTopology();
    const url = await ctx.pgUrl('bench_rebuild');
    ds = await openDataSource({ url, schema: 'ledger', entities: LEDGER_ENTITIES, migrations: LEDGER_MIGRATIONS });
    pg = new Client({ connectionString: url });
    await pg.connect();
    await pg.query('CREATE SCHEMA IF NOT EXISTS bench; CREATE TABLE bench.events (seq bigint PRIMARY KEY, subject text NOT NULL, event_id text NOT NULL, type text NOT NULL, tenant text NOT NULL, data jsonb NOT NULL)');

    const messages = storyEvents(TENANT, casesOf(ctx), 'rb');
    total = messages.length;
    const js = jetstream(raw);
    const acks = await pipelined(messages, 256, (m) => js.publish(m.subject, m.bytes, { msgID: m.msgId }));
    // the chain entries the live ledger would have appended, written in bulk
    let prev: Digest = CHAIN_START.prevHash;
    const rows: unknown[][] = [];
    messages.forEach((m, i) => {
      const stored = JSON.parse(Buffer.from(m.bytes).toString('utf8')) as RecordableEnvelope;
      const e = nextEntry(prev, acks[i].seq, m.subject, stored);
      rows.push([i, e.seq, e.eventId, e.source, e.type, e.tenant, e.subject, e.time, e.eventDigest, e.prevHash, e.entryHash]);
      prev = e.entryHash;
    });
    for (let i = 0; i < rows.length; i += 1000) {
      const chunk = rows.slice(i, i + 1000);
      const values = chunk.map((_, r) => `(${Array.from({ length: 11 }, (_, c) => `$${r * 11 + c + 1}`).join(', ')})`).join(', ');
      await ds.query(`INSERT INTO ledger.entries (position, seq, event_id, source, type, tenant, subject, time, event_digest, prev_hash, entry_hash) VALUES ${values}`, chunk.flat());
    }
    await ds.query('UPDATE ledger.head SET size = $1, last_seq = $2, head_hash = $3 WHERE id = 1', [rows.length, acks[acks.length - 1].seq, prev]);
    const head = await readHead(ds);
    if (head.size !== total) throw new Error(`ledger-rebuild setup: head size ${head.size}, expected ${total}`);
    expectedProjection = undefined;
    ctx.log(`  ledger-rebuild: ${total} events published and chained`);
  },
  async anchor(): Promise<Sample> {
    await pg!.query('TRUNCATE bench.events');
    const js = jetstream(raw!);
    const text = `INSERT INTO bench.events (seq, subject, event_id, type, tenant, data) VALUES ${Array.from({ length: BATCH }, (_, r) => `(${Array.from({ length: 6 }, (_, c) => `$${r * 6 + c + 1}`).join(', ')})`).join(', ')}`;
    let batch: unknown[] = [];
    let received = 0;
    let lastSeq = 0;
    let ordered = true;
    const t = now();
    const { peakRssBytes } = await withPeakRss(async () => {
      await pg!.query('BEGIN');
      const consumer = await js.consumers.get(STREAMS.events.name, { filter_subjects: filters.allEvents, deliver_policy: DeliverPolicy.All });
      const iter = await consumer.consume();
      for await (const m of iter) {
        if (m.seq <= lastSeq) ordered = false;
        lastSeq = m.seq;
        const e = JSON.parse(Buffer.from(m.data).toString('utf8')) as { id: string; type: string; tenantid: string };
        batch.push(m.seq, m.subject, e.id, e.type, e.tenantid, Buffer.from(m.data).toString('utf8'));
        received++;
        if (batch.length === BATCH * 6) {
          await pg!.query({ name: 'bench-insert-500', text, values: batch });
          batch = [];
        }
        if (received >= total) break;
      }
      await iter.close();
      if (batch.length > 0) {
        const n = batch.length / 6;
        await pg!.query(`INSERT INTO bench.events (seq, subject, event_id, type, tenant, data) VALUES ${Array.from({ length: n }, (_, r) => `(${Array.from({ length: 6 }, (_, c) => `$${r * 6 + c + 1}`).join(', ')})`).join(', ')}`, batch);
      }
      await pg!.query('COMMIT');
    });
    const s = seconds(t);
    const { rows } = await pg!.query('SELECT count(*)::int AS n, count(DISTINCT seq)::int AS d, count(DISTINCT event_id)::int AS ids FROM bench.events');
    const ok = ordered && rows[0].n === total && rows[0].d === total && rows[0].ids === total;
    return { work: total, seconds: s, peakRssBytes, check: { ok, detail: `rows ${rows[0].n}/${total}, distinct seqs ${rows[0].d}, distinct ids ${rows[0].ids}, ${ordered ? 'in stream order' : 'OUT OF ORDER'}` } };
  },
  async ours(): Promise<Sample> {
    const t = now();
    const { value: report, peakRssBytes } = await withPeakRss(() => rebuildProjections(ds!, jetStreamReplaySource(messaging!)));
    const s = seconds(t);
    const { digest, counts } = await projectionDigest();
    const cases = total / EVENTS_PER_CASE;
    const same = expectedProjection === undefined || expectedProjection === digest;
    expectedProjection ??= digest;
    const ok = report.applied === total && report.skipped === 0 && counts['cases'] === cases && counts['builds'] === cases && counts['releases'] === cases && same;
    return {
      work: total,
      seconds: s,
      peakRssBytes,
      check: { ok, detail: `applied ${report.applied}/${total}, skipped ${report.skipped}, cases ${counts['cases']}/${cases}, builds ${counts['builds']}, releases ${counts['releases']}, projections ${same ? 'identical across rounds' : 'DIFFER between rounds'}` },
    };
  },
  async teardown() {
    await pg?.end().catch(() => undefined);
    await ds?.destroy().catch(() => undefined);
    await messaging?.close().catch(() => undefined);
    await raw?.close().catch(() => undefined);
    await nats?.dispose();
    unregister?.();
    pg = undefined;
    ds = undefined;
    messaging = undefined;
    raw = undefined;
    nats = undefined;
  },
};
