import type { DataSource } from 'typeorm';
import { KoaRefusal, subjectOf, type AnyKoaEvent } from '@koa/contracts';
import { openDataSource } from '@koa/platform/persistence';
import { createThrowAwayDatabase, type ThrowAwayDatabase } from '@koa/platform/testing';
import { applyUpserts, caseStory, emptyRows, evolveAll, PROJECTION_TABLES, releaseStory, rowKey, selectCaseRecords, selectReleaseRecords, type MemoryRows } from '@koa/ledger/domain';
import { releaseStoryEvents } from '../../domain/src/testing';
import { ACCEPT_GAPS, appendToLedger, LEDGER_ENTITIES, LEDGER_MIGRATIONS, loadCaseRecords, loadReleaseRecords, readHead, rebuildProjections, verifyLedger, writeUpsert, writeUpserts, type ReplaySource } from './index';

/** Stored form of an event: the JSON the stream would hold. */
const stored = (e: AnyKoaEvent) => JSON.parse(JSON.stringify(e));
const bytes = (e: AnyKoaEvent) => new TextEncoder().encode(JSON.stringify(e));
const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const BIGINT = new Set(['firstSeq', 'seq', 'size', 'packSize']);
const TENANTS = ['acme', 'globex'];

/** Every projection row of every tenant, keyed like the in-memory store (camelCase, numbers, parsed JSON). */
async function sqlRows(ds: DataSource, schema = 'ledger'): Promise<Record<string, Record<string, unknown>>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const tenant of TENANTS) {
    await ds.transaction(async (em) => {
      await em.query(`SELECT set_config('koa.tenant', $1, true)`, [tenant]);
      for (const t of PROJECTION_TABLES) {
        for (const r of (await em.query(`SELECT * FROM ${schema}.${t}`)) as Array<Record<string, unknown>>) {
          const row = Object.fromEntries(Object.entries(r).map(([k, v]) => [camel(k), BIGINT.has(camel(k)) && v !== null ? Number(v) : v]));
          out[`${t} ${rowKey(t, row)}`] = row;
        }
      }
    });
  }
  return out;
}

/** The in-memory store in the same shape (undefined cells are NULL in SQL). */
function memoryRows(rows: MemoryRows): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const t of PROJECTION_TABLES) {
    for (const r of rows[t].values()) out[`${t} ${rowKey(t, r as unknown as Record<string, unknown>)}`] = JSON.parse(JSON.stringify(r, (_, v: unknown) => (v === undefined ? null : v)));
  }
  return out;
}

describe('ledger store (real Postgres)', () => {
  let db: ThrowAwayDatabase;
  let ds: DataSource;
  const { events, ids } = releaseStoryEvents({ tag: 'db' });
  const other = releaseStoryEvents({ tenant: 'globex', tag: 'db' });
  // seq: gaps on purpose (another consumer's dead-lettered messages are not in the ledger)
  const all = [...events, ...other.events].map((event, i) => ({ event, seq: 3 + i * 2 }));

  beforeAll(async () => {
    db = await createThrowAwayDatabase('ledger_store');
    ds = await openDataSource({ url: db.url, schema: 'ledger', entities: LEDGER_ENTITIES, migrations: LEDGER_MIGRATIONS });
    for (const { event, seq } of all) {
      await ds.transaction((em) => appendToLedger(em, { seq, subject: subjectOf(event), stored: stored(event), event }, ACCEPT_GAPS));
    }
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('appends every event once, in order, and the chain verifies', async () => {
    expect(await readHead(ds)).toMatchObject({ size: all.length, lastSeq: all[all.length - 1].seq });
    expect(await verifyLedger(ds, 7)).toMatchObject({ ok: true, size: all.length });
  });

  it('a redelivered seq is not appended twice; an older unseen seq is refused (HANDLER_REJECTED)', async () => {
    const { event, seq } = all[4];
    const again = await ds.transaction((em) => appendToLedger(em, { seq, subject: subjectOf(event), stored: stored(event), event }, ACCEPT_GAPS));
    expect(again).toEqual({ appended: false, position: 4 });
    const late = ds.transaction((em) => appendToLedger(em, { seq: 4, subject: subjectOf(event), stored: stored(event), event }, ACCEPT_GAPS));
    await expect(late).rejects.toMatchObject({ code: 'HANDLER_REJECTED' });
    const forged = { ...stored(event), id: 'forged' };
    await expect(ds.transaction((em) => appendToLedger(em, { seq, subject: subjectOf(event), stored: forged, event }, ACCEPT_GAPS))).rejects.toMatchObject({ code: 'LEDGER_CHAIN_BROKEN' });
    expect((await readHead(ds)).size).toBe(all.length);
  });

  it('the SQL projections equal the in-memory reference (same upsert semantics)', async () => {
    const memory = all.reduce((rows, { event, seq }) => applyUpserts(rows, evolveAll(event, { seq })), emptyRows());
    for (const [tenant, releaseId] of [[ids.tenant, ids.releaseId], ['globex', other.ids.releaseId]]) {
      expect(releaseStory(await loadReleaseRecords(ds, tenant, releaseId))).toEqual(releaseStory(selectReleaseRecords(memory, tenant, releaseId)));
    }
    expect(caseStory(await loadCaseRecords(ds, ids.tenant, ids.caseId))).toEqual(caseStory(selectCaseRecords(memory, ids.tenant, ids.caseId)));
    const story = releaseStory(await loadReleaseRecords(ds, ids.tenant, ids.releaseId));
    expect(story.gaps).toEqual([]);
    expect(story.consumers).toHaveLength(3);
    await expect(loadReleaseRecords(ds, 'initech', ids.releaseId)).rejects.toMatchObject({ code: 'RELEASE_NOT_FOUND' });
  });

  it('batched writes equal the in-memory reference row for row: the live appends, every upsert written at once, rebuilds in pages of 1, 3 and the default', async () => {
    const memory = memoryRows(all.reduce((rows, { event, seq }) => applyUpserts(rows, evolveAll(event, { seq })), emptyRows()));
    expect(Object.keys(memory).length).toBeGreaterThan(20);
    expect(await sqlRows(ds)).toEqual(memory);

    // every upsert of both tenants in ONE call: folded per row (a row is touched many times), multi-row per shape
    await ds.transaction(async (em) => {
      await em.query(`TRUNCATE ${PROJECTION_TABLES.map((t) => `ledger.${t}`).join(', ')}`);
      await writeUpserts(em, all.flatMap(({ event, seq }) => evolveAll(event, { seq })));
    });
    expect(await sqlRows(ds)).toEqual(memory);

    const bySeq = new Map(all.map(({ event, seq }) => [seq, event]));
    const stream: ReplaySource = {
      async replay(untilSeq, onMessage) {
        for (let seq = 1; seq <= untilSeq; seq++) {
          const e = bySeq.get(seq);
          if (e) await onMessage({ seq, subject: subjectOf(e), data: bytes(e) });
        }
      },
    };
    for (const pageEvents of [1, 3, undefined]) {
      await ds.query('DELETE FROM ledger.builds');
      const report = await rebuildProjections(ds, stream, pageEvents === undefined ? {} : { pageEvents });
      expect(report).toMatchObject({ applied: all.length, skipped: 0 });
      expect(await sqlRows(ds)).toEqual(memory);
    }
    await expect(rebuildProjections(ds, stream, { pageEvents: 0 })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  // the first list goes as JSON column parameters; a control character (JSON escapes it as \u0001)
  // or a number that is not a safe integer makes the statement use the array form: both exact
  it.each([
    ['JSON columns', ['a"b', 'back\\slash', '{x,y}', 'NULL', '', 'é😀 ∑', ' lead', 'trail ', 'a\nb'], 2 ** 40],
    ['array form', ['a"b', 'back\\slash', 'ctl\u0001x', 'NULL', '', 'é😀 ∑', 'a\nb'], 2 ** 40],
    ['array form, big number', ['a"b', '{x,y}'], 2 ** 60],
  ])('multi-row writes keep awkward values exact (%s): quotes, backslashes, braces, commas, "NULL", empty, unicode, nested JSON, nulls', async (_form, awkward, size) => {
    const upserts = awkward.map((v, i) => ({
      table: 'snapshots' as const,
      key: { tenant: 'globex', digest: `sha256:awk${i}` },
      set: { source: v, mediaType: i % 2 ? null : v, provenance: { v, list: [v, 1.5, null, { [v]: true }] }, size: size + i, firstSeq: i + 1 },
      setOnInsert: { capturedBy: v },
    }));
    const memory = memoryRows(applyUpserts(emptyRows(), upserts));
    await ds.transaction(async (em) => {
      await em.query(`SELECT set_config('koa.tenant', 'globex', true)`);
      await em.query(`DELETE FROM ledger.snapshots WHERE digest LIKE 'sha256:awk%'`);
      await writeUpserts(em, upserts);
    });
    const stored = Object.fromEntries(Object.entries(await sqlRows(ds)).filter(([k]) => k.includes('sha256:awk')));
    expect(stored).toEqual(memory);
    await ds.transaction(async (em) => {
      await em.query(`SELECT set_config('koa.tenant', 'globex', true)`);
      await em.query(`DELETE FROM ledger.snapshots WHERE digest LIKE 'sha256:awk%'`);
    });
  });

  it('rebuild truncates and replays through the same evolve: same story; a stream that disagrees is refused and nothing changes', async () => {
    const before = releaseStory(await loadReleaseRecords(ds, ids.tenant, ids.releaseId));
    const bySeq = new Map(all.map(({ event, seq }) => [seq, event]));
    const stream = (tamperSeq?: number): ReplaySource => ({
      async replay(untilSeq, onMessage) {
        for (let seq = 1; seq <= untilSeq; seq++) {
          const e = bySeq.get(seq);
          if (!e) continue;
          const data = seq === tamperSeq ? bytes({ ...e, time: '2031-01-01T00:00:00Z' } as AnyKoaEvent) : bytes(e);
          await onMessage({ seq, subject: subjectOf(e), data });
        }
      },
    });
    await ds.query('DELETE FROM ledger.consumers');
    const report = await rebuildProjections(ds, stream());
    expect(report).toMatchObject({ untilSeq: all[all.length - 1].seq, applied: all.length, skipped: 0 });
    expect(releaseStory(await loadReleaseRecords(ds, ids.tenant, ids.releaseId))).toEqual(before);

    await ds.query('DELETE FROM ledger.consumers');
    const refused = await rebuildProjections(ds, stream(all[3].seq)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(KoaRefusal);
    expect((refused as KoaRefusal).code).toBe('LEDGER_CHAIN_BROKEN');
    // rolled back: the manual delete stays (the rebuild did not commit)
    expect(releaseStory(await loadReleaseRecords(ds, ids.tenant, ids.releaseId)).consumers).toEqual([]);
    await rebuildProjections(ds, stream());
    expect(releaseStory(await loadReleaseRecords(ds, ids.tenant, ids.releaseId))).toEqual(before);
  });

  it('row-level security: an ordinary role sees only the tenant set in koa.tenant, and cannot write another tenant', async () => {
    const role = `ledger_reader_${db.name.slice(-8)}`;
    await ds.query(`CREATE ROLE ${role} NOLOGIN`);
    await ds.query(`GRANT USAGE ON SCHEMA ledger TO ${role}; GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ledger TO ${role}`);
    try {
      await asRole(role);
    } finally {
      await ds.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`); // roles are cluster-wide: never leave one behind
    }
  });

  const asRole = (role: string) =>
    ds.transaction(async (em) => {
      await em.query(`SET LOCAL ROLE ${role}`);
      expect(await em.query('SELECT tenant FROM ledger.releases')).toEqual([]);
      await em.query(`SELECT set_config('koa.tenant', 'globex', true)`);
      expect(await em.query('SELECT DISTINCT tenant FROM ledger.releases')).toEqual([{ tenant: 'globex' }]);
      const story = releaseStory(await loadReleaseRecords(em, 'globex', other.ids.releaseId));
      expect(story.consumers).toHaveLength(3);
      await em.query('SAVEPOINT before_insert');
      await expect(em.query(`INSERT INTO ledger.cases (tenant, case_id, status, first_seq) VALUES ('acme', 'sneaky', 'open', 1)`)).rejects.toThrow(/row-level security/);
      await em.query('ROLLBACK TO SAVEPOINT before_insert');
      // batched writes switch koa.tenant per tenant: both tenants' rows pass the policy ...
      await em.query('SAVEPOINT before_bulk');
      await writeUpserts(em, all.flatMap(({ event, seq }) => evolveAll(event, { seq })));
      await em.query('ROLLBACK TO SAVEPOINT before_bulk');
      // ... while a row of another tenant than the one set is refused
      await em.query(`SELECT set_config('koa.tenant', 'globex', true)`);
      await expect(writeUpsert(em, { table: 'cases', key: { tenant: 'acme', caseId: 'sneaky' }, set: { status: 'open', firstSeq: 1 } })).rejects.toThrow(/row-level security/);
      await em.query('ROLLBACK TO SAVEPOINT before_bulk');
    });

  it('a tampered entry row is reported at its index; a deleted tail row is caught by the head', async () => {
    await ds.query(`UPDATE ledger.entries SET tenant = 'evil' WHERE position = 5`);
    expect(await verifyLedger(ds, 4)).toMatchObject({ ok: false, code: 'LEDGER_CHAIN_BROKEN', index: 5, reason: 'entry-hash-mismatch' });
    await ds.query(`UPDATE ledger.entries SET tenant = $1 WHERE position = 5`, [all[5].event.tenantid]);
    expect(await verifyLedger(ds)).toMatchObject({ ok: true });
    await ds.query(`DELETE FROM ledger.entries WHERE position = $1`, [all.length - 1]);
    expect(await verifyLedger(ds)).toMatchObject({ ok: false, code: 'LEDGER_CHAIN_BROKEN', index: all.length - 1 });
  });
});
