import type { DataSource, EntityManager } from 'typeorm';
import { subjectOf, type AnyKoaEvent, type Digest } from '@koa/contracts';
import { openDataSource } from '@koa/platform/persistence';
import { createThrowAwayDatabase, type ThrowAwayDatabase } from '@koa/platform/testing';
import { evolveAll, GENESIS_HASH, nextEntry } from '@koa/ledger/domain';
import { releaseStoryEvents } from '../../domain/src/testing';
import { ACCEPT_GAPS, appendParked, appendToLedger, LEDGER_ENTITIES, LEDGER_MIGRATIONS, readHead, readProjectionStatus, verifyLedger, type AppendFence } from './index';

const stored = (e: AnyKoaEvent) => JSON.parse(JSON.stringify(e));
const input = (event: AnyKoaEvent, seq: number) => ({ seq, subject: subjectOf(event), stored: stored(event), event });

/** A fence that records what it was asked and answers `answer`. */
function askedFence(answer: boolean): AppendFence & { asked: Array<[number, number]> } {
  const asked: Array<[number, number]> = [];
  return { asked, gapDecided: async (from, to) => (asked.push([from, to]), answer) };
}
const NEVER_ASKED: AppendFence = {
  gapDecided: async (from, to) => {
    throw new Error(`the fence must not be asked for a contiguous append (asked ${from}..${to})`);
  },
};

/** Every entry (position, seq, entry hash) in chain order. */
async function chain(ds: DataSource): Promise<Array<{ position: number; seq: number; entryHash: string }>> {
  const rows: Array<{ position: string; seq: string; entry_hash: string }> = await ds.query('SELECT position, seq, entry_hash FROM ledger.entries ORDER BY position');
  return rows.map((r) => ({ position: Number(r.position), seq: Number(r.seq), entryHash: r.entry_hash }));
}

/** The entry hashes the chain must have for these (event, seq) pairs appended from the start. */
function expectedHashes(items: ReadonlyArray<{ event: AnyKoaEvent; seq: number }>): string[] {
  let prev: Digest = GENESIS_HASH;
  return items.map(({ event, seq }) => (prev = nextEntry(prev, seq, subjectOf(event), stored(event)).entryHash));
}

/** Stream order across batches and replicas: the batch append (one head lock per transaction), the contiguity fence and the head guard. */
describe('ledger append: batches, fence and head guard (real Postgres)', () => {
  let db: ThrowAwayDatabase;
  let ds: DataSource;
  const { events } = releaseStoryEvents({ tag: 'fence' });

  beforeAll(async () => {
    db = await createThrowAwayDatabase('ledger_append');
    ds = await openDataSource({ url: db.url, schema: 'ledger', entities: LEDGER_ENTITIES, migrations: LEDGER_MIGRATIONS });
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('a batch in ONE transaction locks the head once, chains every event in seq order, and a contiguous append never asks the fence', async () => {
    const batch = events.slice(0, 6).map((event, i) => ({ event, seq: i + 1 }));
    const statements: string[] = [];
    await ds.transaction(async (em: EntityManager) => {
      const query = em.query.bind(em);
      em.query = ((text: string, params?: unknown[]) => (statements.push(text), query(text, params))) as EntityManager['query'];
      for (const { event, seq } of batch) expect(await appendToLedger(em, input(event, seq), NEVER_ASKED)).toMatchObject({ appended: true, position: seq - 1 });
    });
    expect(statements.filter((t) => /FOR UPDATE/.test(t))).toHaveLength(1);
    expect(statements).toHaveLength(1 + batch.length);
    expect((await chain(ds)).map((e) => e.entryHash)).toEqual(expectedHashes(batch));
    expect(await verifyLedger(ds)).toMatchObject({ ok: true, size: batch.length, headSeq: batch.length });
  });

  it('a seq after an undecided gap is parked (nothing of it in the chain); the append that fills the gap appends it right after itself, in stream order', async () => {
    const before = await readHead(ds);
    const [gapFiller, middle, parked] = [events[6], events[7], events[8]];
    const undecided = askedFence(false);
    // seq +3 arrives first: +1 and +2 may still become entries
    expect(await ds.transaction((em) => appendToLedger(em, input(parked, before.lastSeq + 3), undecided))).toEqual({ appended: false, parked: true });
    expect(undecided.asked).toEqual([[before.lastSeq + 1, before.lastSeq + 2]]);
    expect(await readHead(ds)).toEqual(before);
    expect(await ds.query('SELECT 1 FROM ledger.entries WHERE seq = $1', [before.lastSeq + 3])).toEqual([]);
    // a redelivery of the parked seq parks nothing twice
    expect(await ds.transaction((em) => appendToLedger(em, input(parked, before.lastSeq + 3), undecided))).toEqual({ appended: false, parked: true });
    expect(await ds.query('SELECT seq FROM ledger.pending')).toEqual([{ seq: String(before.lastSeq + 3) }]);

    // +1 follows on the head: appended; the parked +3 still waits for +2 (asked, undecided)
    const stillUndecided = askedFence(false);
    expect(await ds.transaction((em) => appendToLedger(em, input(gapFiller, before.lastSeq + 1), stillUndecided))).toMatchObject({ appended: true, position: before.size });
    expect(stillUndecided.asked).toEqual([[before.lastSeq + 2, before.lastSeq + 2]]);
    expect((await readHead(ds)).lastSeq).toBe(before.lastSeq + 1);
    // +2 fills the gap: appended, and the parked +3 right after it, in the same transaction
    expect(await ds.transaction((em) => appendToLedger(em, input(middle, before.lastSeq + 2), NEVER_ASKED))).toMatchObject({ appended: true, position: before.size + 1 });
    expect(await readHead(ds)).toMatchObject({ size: before.size + 3, lastSeq: before.lastSeq + 3 });
    expect(await ds.query('SELECT seq FROM ledger.pending')).toEqual([]);
    expect((await chain(ds)).slice(-3).map((e) => e.seq)).toEqual([before.lastSeq + 1, before.lastSeq + 2, before.lastSeq + 3]);
    expect(await verifyLedger(ds)).toMatchObject({ ok: true, size: before.size + 3 });
    // the parked event's projections were applied from its stored form, like a live one
    expect(await readProjectionStatus(ds)).toEqual(expect.arrayContaining([expect.objectContaining({ lastSeq: before.lastSeq + 3 })]));
    const projected = evolveAll(parked, { seq: before.lastSeq + 3 });
    expect(projected.length).toBeGreaterThan(0);
    const rows: Array<Record<string, unknown>> = await ds.transaction(async (em) => {
      await em.query(`SELECT set_config('koa.tenant', $1, true)`, [parked.tenantid]);
      return em.query(`SELECT * FROM ledger.${projected[0].table}`);
    });
    expect(rows.some((r) => Object.entries(projected[0].key).every(([k, v]) => String(r[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)]) === String(v)))).toBe(true);
  });

  it('a parked seq whose gap is decided without an append behind it (e.g. dead-lettered) is appended by appendParked; a decided gap is skipped for good', async () => {
    const before = await readHead(ds);
    const event = events[9];
    const seq = before.lastSeq + 2; // +1 will be dead-lettered, never an entry
    expect(await ds.transaction((em) => appendToLedger(em, input(event, seq), askedFence(false)))).toEqual({ appended: false, parked: true });
    expect(await appendParked(ds, askedFence(false))).toBe(0);
    expect((await readHead(ds)).lastSeq).toBe(before.lastSeq);
    const decided = askedFence(true);
    expect(await appendParked(ds, decided)).toBe(1);
    expect(decided.asked).toEqual([[before.lastSeq + 1, seq - 1]]);
    expect(await readHead(ds)).toMatchObject({ size: before.size + 1, lastSeq: seq });
    await expect(ds.transaction((em) => appendToLedger(em, input(events[10], before.lastSeq + 1), ACCEPT_GAPS))).rejects.toMatchObject({ code: 'HANDLER_REJECTED' });
    expect(await appendParked(ds, NEVER_ASKED)).toBe(0);
    expect(await verifyLedger(ds)).toMatchObject({ ok: true, size: before.size + 1, headSeq: seq });
  });

  it('the head guard: an append rolled back to a savepoint after it succeeded cannot fork the chain — the next append of that transaction fails, a retry chains correctly', async () => {
    const before = await readHead(ds);
    const [a, b] = [events[10], events[11]];
    await ds.transaction(async (em) => {
      await em.query('SAVEPOINT handler_a');
      await appendToLedger(em, input(a, before.lastSeq + 1), NEVER_ASKED);
      await em.query('ROLLBACK TO SAVEPOINT handler_a'); // e.g. the handler failed after the append
      await em.query('SAVEPOINT handler_b');
      await expect(appendToLedger(em, input(b, before.lastSeq + 2), NEVER_ASKED)).rejects.toMatchObject({ code: 'CONCURRENCY_CONFLICT' });
      await em.query('ROLLBACK TO SAVEPOINT handler_b');
      // the retry of a (same transaction) locks and reads the head afresh
      expect(await appendToLedger(em, input(a, before.lastSeq + 1), NEVER_ASKED)).toMatchObject({ appended: true, position: before.size });
      expect(await appendToLedger(em, input(b, before.lastSeq + 2), NEVER_ASKED)).toMatchObject({ appended: true, position: before.size + 1 });
    });
    expect(await verifyLedger(ds)).toMatchObject({ ok: true, size: before.size + 2, headSeq: before.lastSeq + 2 });
    const tail = (await chain(ds)).slice(-2);
    expect(tail.map((e) => e.seq)).toEqual([before.lastSeq + 1, before.lastSeq + 2]);
  });

  it('two replicas appending interleaved batches concurrently: one chain, in seq order, nothing lost or doubled, nothing left parked', async () => {
    const before = await readHead(ds);
    const rest = events.slice(12);
    // the server hands messages to the replicas alternately: each batch has gaps the other one fills
    const all = rest.map((event, i) => ({ event, seq: before.lastSeq + 1 + i }));
    const replicaA = all.filter((_, i) => i % 2 === 0);
    const replicaB = all.filter((_, i) => i % 2 === 1);
    const appendBatch = (batch: typeof all) =>
      ds.transaction(async (em) => {
        for (const { event, seq } of batch) await appendToLedger(em, input(event, seq), { gapDecided: async () => false });
      });
    await Promise.all([appendBatch(replicaB), appendBatch(replicaA)]);
    const entries = (await chain(ds)).slice(before.size);
    expect(entries.map((e) => e.seq)).toEqual(all.map((x) => x.seq));
    expect(await ds.query('SELECT seq FROM ledger.pending')).toEqual([]);
    expect(await verifyLedger(ds)).toMatchObject({ ok: true, size: before.size + all.length });
  });
});
