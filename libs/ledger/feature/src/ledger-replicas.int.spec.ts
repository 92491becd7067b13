import { ConsumerActivated, createEvent, dedupKey, subjectOf, type AnyKoaEvent } from '@koa/contracts';
import { Messaging } from '@koa/platform/messaging';
import { DataSource } from '@koa/platform/persistence';
import { createServiceApp, type ServiceApp } from '@koa/platform/service';
import { createThrowAwayDatabase, eventually, freePort, PrivateNatsServer, type ThrowAwayDatabase } from '@koa/platform/testing';
import { applyUpserts, emptyRows, evolveAll, releaseStory, selectReleaseRecords } from '@koa/ledger/domain';
import { releaseStoryEvents } from '../../domain/src/testing';
import { LEDGER_CONFIG_SCHEMA, LEDGER_CONSUMERS, LEDGER_DB_SCHEMA, LEDGER_ENTITIES, LEDGER_MIGRATIONS, LedgerFeatureModule, LedgerService } from './index';


/** Two replicas share the durable consumer and the database: still ONE chain, in stream order, and a rebuild under live traffic loses nothing. */
describe('audit-ledger replicas', () => {
  let nats: PrivateNatsServer;
  let db: ThrowAwayDatabase;
  const replicas: ServiceApp[] = [];
  let publisher: Messaging;

  const boot = async () => {
    const s = await createServiceApp(
      { name: 'audit-ledger', schema: LEDGER_CONFIG_SCHEMA, module: LedgerFeatureModule, consumers: LEDGER_CONSUMERS, dbSchema: LEDGER_DB_SCHEMA, entities: LEDGER_ENTITIES, migrations: LEDGER_MIGRATIONS, defaultHttpPort: 8085 },
      { env: { NATS_URL: nats.url, DATABASE_URL: db.url, HTTP_PORT: String(await freePort()), HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'error' } },
    );
    replicas.push(s);
    return { service: s, url: await s.listen() };
  };

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    db = await createThrowAwayDatabase('ledger_replicas');
    publisher = await Messaging.connect({ url: nats.url, name: 'ledger-replicas-publisher' });
  });
  afterAll(async () => {
    await publisher?.close();
    for (const r of replicas) await r.close();
    await nats?.dispose();
    await db?.drop();
  });

  it('both replicas record, the chain is intact and seq-ordered, and a rebuild during traffic equals the replayed reference', async () => {
    const a = await boot();
    await boot();
    const stories = [releaseStoryEvents({ tag: 'r1' }), releaseStoryEvents({ tag: 'r2' }), releaseStoryEvents({ tenant: 'globex', tag: 'r3' })];
    const extra: AnyKoaEvent[] = Array.from({ length: 20 }, (_, i) =>
      createEvent(ConsumerActivated, {
        id: `fleet-${i}`,
        time: '2026-01-03T00:00:00.000Z',
        source: 'runtime',
        tenant: 'acme',
        aggregateId: `edge-${100 + i}`,
        actor: `consumer:edge-${100 + i}`,
        data: { consumerId: `edge-${100 + i}`, env: 'prod', channel: 'stable', releaseId: stories[0].ids.releaseId, version: 3, packDigest: stories[0].ids.packDigest, activatedAt: '2026-01-03T00:00:00.000Z' },
      }) as AnyKoaEvent,
    );
    const all = [...stories.flatMap((s) => s.events), ...extra];
    const half = Math.floor(all.length / 2);
    for (const e of all.slice(0, half)) await publisher.append([e]);
    await eventually(async () => ((await (await fetch(`${a.url}/v1/ledger/verify`)).json()) as { size: number }).size >= 5, { what: "first entries recorded" });

    // rebuild on replica A while the rest of the traffic arrives
    const rebuilding = fetch(`${a.url}/v1/admin/projections/rebuild`, { method: 'POST' });
    for (const e of all.slice(half)) await publisher.append([e]);
    expect((await rebuilding).status).toBe(200);

    const ledger = replicas[1].app.get(LedgerService);
    await eventually(async () => (await ledger.verify()).size === all.length, { timeoutMs: 60_000, what: 'every event recorded once' });
    const verified = await ledger.verify();
    expect(verified).toMatchObject({ ok: true, size: all.length });

    const ds = replicas[0].app.get(DataSource);
    const rows: Array<{ event_id: string; seq: string }> = await ds.query('SELECT event_id, seq FROM ledger.entries ORDER BY position');
    expect(rows.map((r) => r.event_id)).toEqual(all.map((e) => e.id));
    const seqs = rows.map((r) => Number(r.seq));
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);

    // projections (live + rebuilt mix) equal a pure replay of the same events
    const reference = all.reduce((r, e, i) => applyUpserts(r, evolveAll(e, { seq: seqs[i] })), emptyRows());
    for (const s of stories) {
      expect(await ledger.releaseStory(s.ids.tenant, s.ids.releaseId)).toEqual(releaseStory(selectReleaseRecords(reference, s.ids.tenant, s.ids.releaseId)));
    }
    expect((await ledger.releaseStory('acme', stories[0].ids.releaseId)).consumers).toHaveLength(23);
    expect(await ds.query('SELECT seq FROM ledger.pending')).toEqual([]);
  });

  it('a pipelined burst shared by both replicas in interleaved batches: one chain in stream order, nothing lost, doubled or left parked', async () => {
    const ledger = replicas[1].app.get(LedgerService);
    const ds = replicas[0].app.get(DataSource);
    const before = (await ledger.verify()).size;
    const burst: AnyKoaEvent[] = Array.from({ length: 300 }, (_, i) =>
      createEvent(ConsumerActivated, {
        id: `burst-${i}`,
        time: '2026-01-04T00:00:00.000Z',
        source: 'runtime',
        tenant: i % 3 === 0 ? 'globex' : 'acme',
        aggregateId: `edge-b${i}`,
        actor: `consumer:edge-b${i}`,
        data: { consumerId: `edge-b${i}`, env: 'prod', channel: 'stable', releaseId: 'rel-burst', version: 1, packDigest: `sha256:${'b'.repeat(64)}`, activatedAt: '2026-01-04T00:00:00.000Z' },
      }) as AnyKoaEvent,
    );
    // one connection, sent back to back: stream order is the order sent
    const acks = await Promise.all(burst.map((e) => publisher.publish(subjectOf(e), new TextEncoder().encode(JSON.stringify(e)), { msgId: dedupKey(e) })));
    expect(acks.map((a) => a.seq)).toEqual([...acks.map((a) => a.seq)].sort((x, y) => x - y));
    await eventually(async () => (await ledger.verify()).size === before + burst.length, { timeoutMs: 60_000, what: 'the whole burst recorded' });
    const rows: Array<{ event_id: string; seq: string }> = await ds.query('SELECT event_id, seq FROM ledger.entries WHERE position >= $1 ORDER BY position', [before]);
    expect(rows.map((r) => r.event_id)).toEqual(burst.map((e) => e.id));
    expect(rows.map((r) => Number(r.seq))).toEqual(acks.map((a) => a.seq));
    expect(await ds.query('SELECT seq FROM ledger.pending')).toEqual([]);
    expect(await ledger.verify()).toMatchObject({ ok: true, size: before + burst.length });
  });
});
