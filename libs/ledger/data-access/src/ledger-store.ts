import type { DataSource, EntityManager } from 'typeorm';
import { KoaRefusal, parseEvent, type AnyKoaEvent, type Digest } from '@koa/contracts';
import {
  CHAIN_START,
  eventDigestOf,
  evolveAll,
  nextEntry,
  PROJECTION_TABLES,
  PROJECTIONS,
  storyDigests,
  verifyChainPage,
  type BuildRow,
  type CaseRecords,
  type CaseRow,
  type ChainCursor,
  type ChainVerification,
  type LedgerEntry,
  type ProjectionTable,
  type RecordableEnvelope,
  type ReleaseRecords,
  type ReleaseRow,
  type RowsByTable,
  type RowUpsert,
} from '@koa/ledger/domain';
import { combinePieces, UpsertFold, upsertPieces, writeFold, type SqlPiece } from './bulk-upsert';
import { decodeEntries, type EntryMessage } from './replay-decoder';

/**
 * The ledger's Postgres side (schema `ledger`): append an event to the hash chain and apply the
 * projections in the CALLER'S transaction; verify the chain; load what-happened records; rebuild
 * the projections by replay. Every function takes an EntityManager (or a DataSource where it opens
 * its own transaction); SQL is parameterised and column names come only from the domain's
 * whitelists (TABLE_COLUMNS / TABLE_KEYS).
 */

const BIGINT = new Set(['firstSeq', 'seq', 'size', 'packSize']);
const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function decodeRow<T extends ProjectionTable>(row: Record<string, unknown>): RowsByTable[T] {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    const c = camel(k);
    out[c] = BIGINT.has(c) && v !== null ? Number(v) : v;
  }
  return out as unknown as RowsByTable[T];
}

/**
 * Writes one upsert with the merge semantics documented on RowUpsert (`koa.tenant` must already
 * be set to its tenant). Column names are checked against `TABLE_COLUMNS` (TypeError otherwise).
 */
export async function writeUpsert(em: EntityManager, u: RowUpsert): Promise<void> {
  const fold = new UpsertFold();
  fold.add([u]);
  for (const pieces of upsertPieces(fold).values()) for (const s of combinePieces(pieces)) await em.query(s.text, s.params);
}

/**
 * Writes many upserts in the transaction of `em` as if applied one by one in order: folded per
 * row (same merge semantics), then one multi-row `INSERT … ON CONFLICT` per tenant and column
 * shape (up to 500 rows each, combined into few statements), with `koa.tenant` set per tenant.
 */
export async function writeUpserts(em: EntityManager, upserts: readonly RowUpsert[]): Promise<void> {
  const fold = new UpsertFold();
  fold.add(upserts);
  await writeFold(em, fold);
}

export interface LedgerHead {
  readonly size: number;
  readonly lastSeq: number;
  readonly headHash: Digest;
}

/** Sets `koa.tenant` for the rest of the transaction: the RLS policies show/accept that tenant's rows only. */
async function setTenant(em: EntityManager, tenant: string): Promise<void> {
  await em.query(`SELECT set_config('koa.tenant', $1, true)`, [tenant]);
}

/** Runs `work` in a transaction (the caller's, or a new read-only one) with `koa.tenant` set. */
async function withTenant<T>(db: EntityManager | DataSource, tenant: string, work: (em: EntityManager) => Promise<T>): Promise<T> {
  const run = async (em: EntityManager) => {
    await setTenant(em, tenant);
    return work(em);
  };
  if ('queryRunner' in db && db.queryRunner?.isTransactionActive) return run(db);
  const ds = 'manager' in db ? (db as DataSource) : (db as EntityManager).connection;
  return ds.transaction('REPEATABLE READ', run);
}

/** Locks the head row `FOR UPDATE` (and, in the same round trip, sets `koa.tenant` if given). */
async function lockHead(em: EntityManager, tenant?: string): Promise<LedgerHead> {
  const rows: Array<{ size: string; last_seq: string; head_hash: Digest }> =
    tenant === undefined
      ? await em.query('SELECT size, last_seq, head_hash FROM ledger.head WHERE id = 1 FOR UPDATE')
      : await em.query(`SELECT size, last_seq, head_hash, set_config('koa.tenant', $1, true) AS tenant FROM ledger.head WHERE id = 1 FOR UPDATE`, [tenant]);
  if (!rows.length) throw new KoaRefusal('CONFIG_INVALID', 'ledger.head has no row: the ledger migrations did not run');
  return { size: Number(rows[0].size), lastSeq: Number(rows[0].last_seq), headHash: rows[0].head_hash };
}

/** The current head (no lock). */
export async function readHead(em: EntityManager | DataSource): Promise<LedgerHead> {
  const rows: Array<{ size: string; last_seq: string; head_hash: Digest }> = await em.query('SELECT size, last_seq, head_hash FROM ledger.head WHERE id = 1');
  if (!rows.length) throw new KoaRefusal('CONFIG_INVALID', 'ledger.head has no row: the ledger migrations did not run');
  return { size: Number(rows[0].size), lastSeq: Number(rows[0].last_seq), headHash: rows[0].head_hash };
}

export interface StoredEvent {
  /** KOA_EVENTS stream sequence */
  readonly seq: number;
  /** NATS subject it was stored on */
  readonly subject: string;
  /** the message bytes parsed as JSON (the digest is computed over this, not the schema output) */
  readonly stored: RecordableEnvelope;
  /** the validated event (parseEvent) the projections evolve from */
  readonly event: AnyKoaEvent;
}

export type AppendResult =
  | { readonly appended: true; readonly entry: LedgerEntry; readonly position: number }
  /** already in the ledger (a redelivery) */
  | { readonly appended: false; readonly position: number }
  /** ahead of a message that may still become an entry: kept in `ledger.pending`, appended right after it */
  | { readonly appended: false; readonly parked: true };

/**
 * Decides a gap in front of an append: `gapDecided(from, to)` answers whether EVERY stream
 * message with seq in `[from, to]` has been decided for good as NOT a ledger entry (dead-lettered,
 * a duplicate `source#id`, or not an event of the filter) — parked messages are not in such a
 * gap: they are appended first. The service answers it from the durable consumer's ack floor
 * (every message at or below it was acked or terminated, and the ledger acks a message only after
 * it committed it as an entry or parked it); `false` when unsure.
 */
export interface AppendFence {
  gapDecided(fromSeq: number, toSeq: number): Promise<boolean>;
}

/** A fence for callers that deliver the stream in order by construction and skip seqs on purpose (tests, tools). */
export const ACCEPT_GAPS: AppendFence = { gapDecided: async () => true };

/**
 * What one transaction knows about the head after its first append: it holds the head row lock
 * from then on, so later appends of the same transaction (a batch) need no `SELECT … FOR UPDATE`.
 * Only a prediction: every append's statement re-checks it (the head UPDATE matches the expected
 * size, seq and hash or the append fails), so a stale entry can never fork the chain.
 */
interface HeldHead {
  head: LedgerHead;
  tenant: string | undefined;
  /** `projection_state` was written by this transaction (once is enough: see `readProjectionStatus`) */
  stateWritten?: boolean;
}
const heldHeads = new WeakMap<EntityManager, HeldHead>();

/** Parked messages read per query while appending them. */
const PARKED_PAGE = 500;

/**
 * Appends one event to the chain and applies every projection, in the transaction of `em`
 * (which MUST be inside a transaction: the head row is locked `FOR UPDATE` until it commits,
 * so concurrent replicas serialise and still build ONE chain, in stream order).
 *
 * - a seq already in the ledger ⇒ `{ appended: false, position }` (a redelivery), nothing written;
 * - the next seq (head seq + 1) ⇒ appended, then any parked messages that now follow on;
 * - a seq further on: parked messages before it are appended first (as far as order allows);
 *   then it is appended if `fence.gapDecided(head seq + 1, seq - 1)` (nothing in between can
 *   still become an entry), else PARKED in `ledger.pending` (committed with the delivery, which
 *   can then be acked): the append that fills the gap — on this replica or another — appends it
 *   right after itself; `appendParked` does it when the gap is decided otherwise;
 * - a seq lower than the head's that is not in the ledger ⇒ HANDLER_REJECTED (stream order was not
 *   kept — the parking above exists so that this cannot happen);
 * - a seq already recorded with a different event digest ⇒ LEDGER_CHAIN_BROKEN.
 *
 * Round trips: the first append of a transaction locks the head (and sets `koa.tenant`); later
 * ones reuse what that transaction holds (another tenant costs one `set_config`); then ONE
 * statement (data-modifying CTEs) that advances the head — guarded: only if it still is what this
 * append chained onto, else CONCURRENCY_CONFLICT (retryable) — inserts the entry, upserts
 * `projection_state`, writes the event's projection rows (folded, multi-row per table) and says
 * whether a message is parked after it. A redelivery (seq at or below the head's) costs one more
 * `SELECT` of the entry.
 */
export async function appendToLedger(em: EntityManager, e: StoredEvent, fence: AppendFence): Promise<AppendResult> {
  let held = heldHeads.get(em);
  const fresh = !held;
  if (!held) {
    held = { head: await lockHead(em, e.event.tenantid), tenant: e.event.tenantid };
    heldHeads.set(em, held);
  }
  const head = held.head;
  if (e.seq <= head.lastSeq) {
    // read after the lock: an entry committed by another replica while we waited is visible
    const existing: Array<{ position: string; event_digest: string }> = await em.query('SELECT position, event_digest FROM ledger.entries WHERE seq = $1', [e.seq]);
    if (existing.length) {
      if (existing[0].event_digest !== eventDigestOf(e.stored)) {
        throw new KoaRefusal('LEDGER_CHAIN_BROKEN', `stream seq ${e.seq} is recorded with digest ${existing[0].event_digest} but the delivered message digests to ${eventDigestOf(e.stored)}`, { seq: e.seq, index: Number(existing[0].position) });
      }
      return { appended: false, position: Number(existing[0].position) };
    }
    if (!fresh) {
      // never refuse on what an earlier append of this transaction held: lock and read afresh
      heldHeads.delete(em);
      return appendToLedger(em, e, fence);
    }
    throw new KoaRefusal('HANDLER_REJECTED', `stream seq ${e.seq} arrived after seq ${head.lastSeq} was recorded: the ledger keeps stream order and refuses it`, { seq: e.seq, headSeq: head.lastSeq });
  }
  if (e.seq > head.lastSeq + 1) {
    await appendParkedIn(em, held, fence, e.seq);
    if (e.seq > held.head.lastSeq + 1 && !(await fence.gapDecided(held.head.lastSeq + 1, e.seq - 1))) {
      await em.query('INSERT INTO ledger.pending (seq, subject, message) VALUES ($1, $2, $3) ON CONFLICT (seq) DO NOTHING', [e.seq, e.subject, JSON.stringify(e.stored)]);
      return { appended: false, parked: true };
    }
  }
  const { entry, position, parkedNext } = await appendEntry(em, held, e);
  if (parkedNext) await appendParkedIn(em, held, fence);
  return { appended: true, entry, position };
}

/**
 * Appends parked messages whose gap in front has been decided meanwhile (e.g. the message they
 * waited for was dead-lettered), in its own transaction; the service runs it periodically.
 * Returns how many were appended.
 */
export async function appendParked(ds: DataSource, fence: AppendFence): Promise<number> {
  const any: unknown[] = await ds.query('SELECT 1 FROM ledger.pending LIMIT 1');
  if (!any.length) return 0;
  return ds.transaction(async (em) => {
    const held: HeldHead = { head: await lockHead(em), tenant: undefined };
    const before = held.head.size;
    await appendParkedIn(em, held, fence);
    return held.head.size - before;
  });
}

/**
 * Appends parked messages (seq below `below` if given) in stream order while each follows on the
 * head or its gap is decided; stops at the first that does not. The head must be held.
 */
async function appendParkedIn(em: EntityManager, held: HeldHead, fence: AppendFence, below?: number): Promise<void> {
  for (;;) {
    const rows: Array<{ seq: string; subject: string; message: string }> = await em.query(
      `SELECT seq, subject, message FROM ledger.pending WHERE seq > $1${below === undefined ? '' : ' AND seq < $3'} ORDER BY seq LIMIT $2`,
      below === undefined ? [held.head.lastSeq, PARKED_PAGE] : [held.head.lastSeq, PARKED_PAGE, below],
    );
    for (const r of rows) {
      const seq = Number(r.seq);
      if (seq > held.head.lastSeq + 1 && !(await fence.gapDecided(held.head.lastSeq + 1, seq - 1))) return;
      const stored = JSON.parse(r.message) as RecordableEnvelope;
      await appendEntry(em, held, { seq, subject: r.subject, stored, event: parseEvent(stored, r.subject) });
    }
    if (rows.length < PARKED_PAGE) return;
  }
}

/** The guarded one-statement append of the next entry onto the held head; says whether a message is parked after it. */
async function appendEntry(em: EntityManager, held: HeldHead, e: StoredEvent): Promise<{ entry: LedgerEntry; position: number; parkedNext: boolean }> {
  const head = held.head;
  if (held.tenant !== e.event.tenantid) {
    await setTenant(em, e.event.tenantid);
    held.tenant = e.event.tenantid;
  }
  const entry = nextEntry(head.headHash, e.seq, e.subject, e.stored);
  const position = head.size;
  const fold = new UpsertFold();
  fold.add(evolveAll(e.event, { seq: e.seq }));
  // p0 (the guarded head update) must be the first CTE: the entry insert and the result read it
  const pieces: SqlPiece[] = [
    piece(
      [position + 1, entry.seq, entry.entryHash, position, head.lastSeq, head.headHash],
      (p) => `UPDATE ledger.head SET size = ${p(0)}, last_seq = ${p(1)}, head_hash = ${p(2)}, updated_at = now() WHERE id = 1 AND size = ${p(3)} AND last_seq = ${p(4)} AND head_hash = ${p(5)} RETURNING 1`,
    ),
    piece(
      [position, entry.seq, entry.eventId, entry.source, entry.type, entry.tenant, entry.subject, entry.time, entry.eventDigest, entry.prevHash, entry.entryHash],
      (p) => `INSERT INTO ledger.entries (position, seq, event_id, source, type, tenant, subject, time, event_digest, prev_hash, entry_hash) SELECT ${p(0, 11)} FROM p0`,
    ),
    // once per transaction: every row version a transaction adds to the same row makes the next
    // update of it slower (measured: per event, this 5-row upsert dominated a 256-event batch)
    ...(held.stateWritten ? [] : [projectionStatePiece(e.seq, false)]),
    ...[...upsertPieces(fold).values()].flat(),
    piece([e.seq], (p) => `DELETE FROM ledger.pending WHERE seq = ${p(0)}`),
    piece([e.seq], (p) => `SELECT (SELECT count(*) FROM p0)::int AS moved, EXISTS (SELECT 1 FROM ledger.pending WHERE seq > ${p(0)}) AS parked_next`),
  ];
  const statements = combinePieces(pieces);
  if (statements.length !== 1) throw new KoaRefusal('HANDLER_REJECTED', `event seq ${e.seq} writes too many projection rows for one append statement`, { seq: e.seq });
  const rows: Array<{ moved: number; parked_next: boolean }> = await em.query(statements[0].text, statements[0].params);
  if (rows[0]?.moved !== 1) {
    // the head is not what this transaction held (its savepoint was rolled back): nothing of this
    // append may stay — fail it (retryable), and lock afresh on the next attempt
    heldHeads.delete(em);
    throw new KoaRefusal('CONCURRENCY_CONFLICT', `the ledger head moved under the append of stream seq ${e.seq}; retried`, { seq: e.seq });
  }
  held.head = { size: position + 1, lastSeq: entry.seq, headHash: entry.entryHash };
  held.stateWritten = true;
  return { entry, position, parkedNext: rows[0].parked_next };
}

/** A SQL piece whose text uses `p(i)` for placeholder i (or `p(i, n)` for n consecutive ones). */
function piece(params: readonly unknown[], text: (p: (i: number, n?: number) => string) => string): SqlPiece {
  return {
    params,
    text: (base) => text((i, n = 1) => Array.from({ length: n }, (_, k) => `$${base + i + k + 1}`).join(', ')),
  };
}

function projectionStatePiece(lastSeq: number, rebuilt: boolean): SqlPiece {
  const n = PROJECTIONS.length;
  return piece([...PROJECTIONS.flatMap((p) => [p.name, p.version]), lastSeq], (p) => {
    const values = PROJECTIONS.map((_, i) => `(${p(i * 2)}, ${p(i * 2 + 1)}, ${p(n * 2)}, ${rebuilt ? 'now()' : 'NULL::timestamptz'}, now())`).join(', ');
    return (
      `INSERT INTO ledger.projection_state (name, version, last_seq, rebuilt_at, updated_at) VALUES ${values} ` +
      `ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, last_seq = EXCLUDED.last_seq, updated_at = now()${rebuilt ? ', rebuilt_at = EXCLUDED.rebuilt_at' : ''}`
    );
  });
}

async function touchProjectionState(em: EntityManager, lastSeq: number, rebuilt: boolean): Promise<void> {
  for (const s of combinePieces([projectionStatePiece(lastSeq, rebuilt)])) await em.query(s.text, s.params);
}

export interface ProjectionStatus {
  readonly name: string;
  readonly version: number;
  /** the version the running code evolves with; a difference means a rebuild is due */
  readonly codeVersion: number;
  readonly lastSeq: number;
  readonly rebuiltAt: string | null;
}

/**
 * projection_state rows joined with the code's projection versions. A live transaction writes
 * its rows once, at its first append, and applies every projection to every entry it appends, so
 * a projection's last applied seq is the head's (`GREATEST(last_seq, head.last_seq)`).
 */
export async function readProjectionStatus(em: EntityManager | DataSource): Promise<ProjectionStatus[]> {
  const rows: Array<{ name: string; version: number; last_seq: string; rebuilt_at: Date | null }> = await em.query(
    'SELECT s.name, s.version, GREATEST(s.last_seq, h.last_seq) AS last_seq, s.rebuilt_at FROM ledger.projection_state s CROSS JOIN ledger.head h WHERE h.id = 1',
  );
  const byName = new Map(rows.map((r) => [r.name, r]));
  return PROJECTIONS.map((p) => {
    const r = byName.get(p.name);
    return { name: p.name, version: r?.version ?? 0, codeVersion: p.version, lastSeq: r ? Number(r.last_seq) : 0, rebuiltAt: r?.rebuilt_at ? r.rebuilt_at.toISOString() : null };
  });
}

const entryOf = (r: Record<string, unknown>): LedgerEntry => ({
  seq: Number(r['seq']),
  eventId: r['event_id'] as string,
  source: r['source'] as string,
  type: r['type'] as string,
  tenant: r['tenant'] as string,
  subject: r['subject'] as string,
  time: r['time'] as string,
  eventDigest: r['event_digest'] as Digest,
  prevHash: r['prev_hash'] as Digest,
  entryHash: r['entry_hash'] as Digest,
});

/** Entries in chain order from `position` (0-based), at most `limit`. */
export async function listEntries(em: EntityManager | DataSource, o: { from?: number; limit?: number; tenant?: string } = {}): Promise<Array<LedgerEntry & { position: number }>> {
  const limit = Math.min(Math.max(o.limit ?? 100, 1), 1000);
  const rows: Array<Record<string, unknown>> = o.tenant
    ? await em.query('SELECT * FROM ledger.entries WHERE position >= $1 AND tenant = $2 ORDER BY position LIMIT $3', [o.from ?? 0, o.tenant, limit])
    : await em.query('SELECT * FROM ledger.entries WHERE position >= $1 ORDER BY position LIMIT $2', [o.from ?? 0, limit]);
  return rows.map((r) => ({ ...entryOf(r), position: Number(r['position']) }));
}

/**
 * Verifies the whole chain, page by page, in one REPEATABLE READ snapshot: every entry links to
 * the previous one and hashes to itself, positions have no holes, and the head row names the
 * last entry. Returns the first broken index (LEDGER_CHAIN_BROKEN) or ok with size and head.
 */
export async function verifyLedger(ds: DataSource, pageSize = 1000): Promise<ChainVerification> {
  return ds.transaction('REPEATABLE READ', async (em) => {
    let cursor: ChainCursor = CHAIN_START;
    for (;;) {
      const rows: Array<Record<string, unknown>> = await em.query('SELECT * FROM ledger.entries WHERE position >= $1 ORDER BY position LIMIT $2', [cursor.index, pageSize]);
      if (!rows.length) break;
      const hole = rows.findIndex((r, i) => Number(r['position']) !== cursor.index + i);
      const page = verifyChainPage((hole === -1 ? rows : rows.slice(0, hole)).map(entryOf), cursor);
      if (!page.ok) return page;
      if (hole !== -1) {
        const r = rows[hole];
        return { ok: false, code: 'LEDGER_CHAIN_BROKEN', index: page.next.index, seq: Number(r['seq']), reason: 'prev-hash-mismatch', message: `ledger entry ${page.next.index} is missing (next stored position is ${r['position']})` } as const;
      }
      cursor = page.next;
      if (rows.length < pageSize) break;
    }
    const head = await readHead(em);
    if (head.size !== cursor.index || head.headHash !== cursor.prevHash) {
      return {
        ok: false,
        code: 'LEDGER_CHAIN_BROKEN',
        index: Math.min(head.size, cursor.index),
        seq: head.lastSeq,
        reason: 'prev-hash-mismatch',
        message: `ledger head names ${head.size} entries ending in ${head.headHash}, but the stored chain has ${cursor.index} ending in ${cursor.prevHash}`,
      } as const;
    }
    return { ok: true, size: cursor.index, headHash: cursor.prevHash, headSeq: cursor.prevSeq };
  });
}

// ---- what-happened records ----------------------------------------------------------------

async function select<T extends ProjectionTable>(em: EntityManager | DataSource, table: T, where: string, params: unknown[]): Promise<Array<RowsByTable[T]>> {
  const rows: Array<Record<string, unknown>> = await em.query(`SELECT * FROM ledger.${table} WHERE ${where}`, params);
  return rows.map((r) => decodeRow<T>(r));
}

async function buildRecords(em: EntityManager | DataSource, tenant: string, builds: BuildRow[]) {
  const ids = builds.map((b) => b.buildId);
  const stages = await select(em, 'build_stages', 'tenant = $1 AND build_id = ANY($2::text[])', [tenant, ids]);
  const evidence = await select(em, 'evidence', 'tenant = $1 AND build_id = ANY($2::text[])', [tenant, ids]);
  return { stages, evidence };
}

async function consumersOf(em: EntityManager | DataSource, tenant: string, releases: readonly ReleaseRow[]) {
  return select(em, 'consumers', 'tenant = $1 AND (release_id = ANY($2::text[]) OR (release_id IS NULL AND pack_digest = ANY($3::text[])))', [
    tenant,
    releases.map((r) => r.releaseId),
    releases.map((r) => r.packDigest).filter((d): d is string => d !== null),
  ]);
}

/** The rows behind a release's story (selection rules: ReleaseRecords). RELEASE_NOT_FOUND if unknown. */
export async function loadReleaseRecords(db: EntityManager | DataSource, tenant: string, releaseId: string): Promise<ReleaseRecords> {
  return withTenant(db, tenant, (em) => releaseRecordsIn(em, tenant, releaseId));
}

async function releaseRecordsIn(em: EntityManager, tenant: string, releaseId: string): Promise<ReleaseRecords> {
  const [release] = await select(em, 'releases', 'tenant = $1 AND release_id = $2', [tenant, releaseId]);
  if (!release) throw new KoaRefusal('RELEASE_NOT_FOUND', `no release ${JSON.stringify(releaseId)} is recorded for tenant ${JSON.stringify(tenant)}`, { tenant, releaseId });
  const c: CaseRow | undefined = release.caseId ? (await select(em, 'cases', 'tenant = $1 AND case_id = $2', [tenant, release.caseId]))[0] : undefined;
  const builds = release.caseId ? await select(em, 'builds', 'tenant = $1 AND case_id = $2', [tenant, release.caseId]) : [];
  const { stages, evidence } = await buildRecords(em, tenant, builds);
  const snapshots = await select(em, 'snapshots', 'tenant = $1 AND digest = ANY($2::text[])', [tenant, storyDigests(c, builds)]);
  const consumers = await consumersOf(em, tenant, [release]);
  return { release, ...(c && { case: c }), builds, stages, evidence, snapshots, consumers };
}

/** The rows behind a Case's story. CASE_NOT_FOUND if unknown. */
export async function loadCaseRecords(db: EntityManager | DataSource, tenant: string, caseId: string): Promise<CaseRecords> {
  return withTenant(db, tenant, (em) => caseRecordsIn(em, tenant, caseId));
}

async function caseRecordsIn(em: EntityManager, tenant: string, caseId: string): Promise<CaseRecords> {
  const [c] = await select(em, 'cases', 'tenant = $1 AND case_id = $2', [tenant, caseId]);
  if (!c) throw new KoaRefusal('CASE_NOT_FOUND', `no case ${JSON.stringify(caseId)} is recorded for tenant ${JSON.stringify(tenant)}`, { tenant, caseId });
  const builds = await select(em, 'builds', 'tenant = $1 AND case_id = $2', [tenant, caseId]);
  const { stages, evidence } = await buildRecords(em, tenant, builds);
  const snapshots = await select(em, 'snapshots', 'tenant = $1 AND digest = ANY($2::text[])', [tenant, storyDigests(c, builds)]);
  const releases = await select(em, 'releases', 'tenant = $1 AND case_id = $2', [tenant, caseId]);
  const consumers = await consumersOf(em, tenant, releases);
  return { case: c, builds, stages, evidence, snapshots, releases, consumers };
}

// ---- rebuild by replay ----------------------------------------------------------------------

/** A stored message of KOA_EVENTS as replayed. */
export interface ReplayedMessage {
  readonly seq: number;
  readonly subject: string;
  /** the stored bytes; must stay as they are after `onMessage` returns (the rebuild keeps them until its page is decoded) */
  readonly data: Uint8Array;
}

/** Where a rebuild reads the stream from (the feature lib implements it over Messaging.watch). */
export interface ReplaySource {
  /**
   * Delivers every message of KOA_EVENTS from sequence 1 in stream order, calling `onMessage`
   * for each (and awaiting it when it returns a promise: the rebuild returns one only when a page
   * is full, so most messages cost no promise), and resolves once a message with seq ≥ `untilSeq`
   * was handled (at once if `untilSeq` is 0). Rejects if `onMessage` throws or rejects, or the
   * stream cannot be read.
   */
  replay(untilSeq: number, onMessage: (m: ReplayedMessage) => Promise<void> | void): Promise<void>;
}

export interface RebuildReport {
  /** the ledger head seq the projections were rebuilt up to (what the live consumer had committed) */
  readonly untilSeq: number;
  /** ledger entries, i.e. events applied */
  readonly applied: number;
  /** stream messages that are not in the ledger (dead-lettered or duplicate events) */
  readonly skipped: number;
  readonly projections: ReadonlyArray<{ readonly name: string; readonly version: number }>;
}

/** Stream messages per rebuild page: one entries lookup and one batch of projection writes each. */
export const REBUILD_PAGE_EVENTS = 2_000;

/**
 * Drops (truncates) every projection table and replays KOA_EVENTS from sequence 1 through the
 * SAME evolve functions as the live path, in ONE transaction that holds the chain head lock:
 * live appends wait (and are redelivered if they time out), so the rebuilt rows are exactly
 * "every ledger entry up to the head", and the live consumer continues after the commit.
 *
 * Only messages that ARE ledger entries are applied (an invalid event was dead-lettered and never
 * recorded), and each must digest to its entry's `eventDigest`: a stream that disagrees with the
 * ledger refuses the rebuild with LEDGER_CHAIN_BROKEN (nothing is committed). The hash-chain
 * entries themselves are never rebuilt: they ARE the ledger.
 *
 * Batched: messages are taken in pages of `pageEvents` (default {@link REBUILD_PAGE_EVENTS}).
 * Per page: ONE `SELECT` of the ledger entries in its seq range; each message is decoded once
 * (UTF-8, `JSON.parse`), digest-checked in memory, validated (`parseEvent`) and evolved; the
 * upserts are folded per row (`applyUpserts` semantics) and written as multi-row
 * `INSERT … ON CONFLICT` statements (500 rows each, per tenant and column shape). A page is
 * looked up (on a pooled connection) and decoded while the previous one is written, and the next
 * one fills meanwhile (writes strictly in page order, at most three pages in memory), so memory
 * stays bounded whatever the stream's length.
 */
export async function rebuildProjections(ds: DataSource, source: ReplaySource, o: { pageEvents?: number } = {}): Promise<RebuildReport> {
  const pageEvents = o.pageEvents ?? REBUILD_PAGE_EVENTS;
  if (!Number.isInteger(pageEvents) || pageEvents < 1) throw new KoaRefusal('CONFIG_INVALID', `rebuild pageEvents must be an integer >= 1, not ${pageEvents}`, { pageEvents });
  const lookups = (ds.options as { poolSize?: number }).poolSize === 1 ? 'transaction' : 'pool';
  return ds.transaction(async (em) => {
    const head = await lockHead(em);
    const ignore = () => undefined;
    // pages are written strictly in order; page k is looked up and decoded while page k-1 is
    // written, and the replay fills page k+1 meanwhile: it waits only for page k-2's write, so at
    // most three pages are in memory (one written, one decoded, one filling). Waiting for page
    // k-1's write as well left the event loop idle while Postgres wrote. The truncate is the
    // first "write": it runs while the replay starts (consumer, first deliveries) and the first
    // page's write queues behind it.
    let writing: Promise<void> = em.query(`TRUNCATE ${PROJECTION_TABLES.map((t) => `ledger.${t}`).join(', ')}`).then(ignore);
    writing.catch(ignore); // observed by the first submit or at the end
    let applied = 0;
    let skipped = 0;
    let tenant: string | undefined;

    /** entries lookup + decode of one page (may run while the previous page is being written) */
    const prepare = async (page: readonly PageMessage[]): Promise<UpsertFold> => {
      let from = page[0].seq;
      let to = from;
      for (const m of page) {
        if (m.seq < from) from = m.seq;
        if (m.seq > to) to = m.seq;
      }
      // on a pooled connection, not the transaction's: there it would queue behind the previous
      // page's writes and this page's decode would wait for them (measured: median 0.55x -> 0.62x,
      // 5 alternating rounds). Same rows: entries up to the head were committed before the head
      // was locked, and nothing can append while it is. (A pool of one connection has no other.)
      // one row holding the page's entries as `seq position digest` lines in seq order: parsing
      // it costs the client far less than one result row per entry
      const [{ lines }]: Array<{ lines: string | null }> = await (lookups === 'pool' ? ds : em).query(
        `SELECT string_agg(seq || ' ' || position || ' ' || event_digest, chr(10) ORDER BY seq) AS lines FROM ledger.entries WHERE seq >= $1 AND seq <= $2`,
        [from, to],
      );
      const entries = new Map<number, { position: number; eventDigest: string }>();
      for (const line of lines === null ? [] : lines.split('\n')) {
        const a = line.indexOf(' ');
        const b = line.indexOf(' ', a + 1);
        entries.set(Number(line.slice(0, a)), { position: Number(line.slice(a + 1, b)), eventDigest: line.slice(b + 1) });
      }
      const items: EntryMessage[] = [];
      for (const m of page) {
        const entry = entries.get(m.seq);
        if (!entry) skipped++;
        else items.push({ seq: m.seq, subject: m.subject, data: m.data, position: entry.position, eventDigest: entry.eventDigest });
      }
      const fold = new UpsertFold();
      decodeEntries(items, (upserts) => fold.add(upserts));
      applied += items.length;
      return fold;
    };
    let older: Promise<void> = Promise.resolve(); // the write before `writing`'s predecessor
    const submit = async (page: readonly PageMessage[]): Promise<void> => {
      const decoded = prepare(page);
      decoded.catch(ignore); // observed through `writing`
      const previous = writing;
      writing = (async () => {
        const fold = await decoded;
        await previous;
        tenant = await writeFold(em, fold, tenant);
      })();
      writing.catch(ignore); // observed by a later submit or at the end
      const wait = older;
      older = previous;
      await wait; // a failed page ends the replay (each write awaits the one before it)
    };

    let page: PageMessage[] = [];
    try {
      // synchronous until a page is full: only then is there a promise to wait for
      await source.replay(head.lastSeq, (m) => {
        if (m.seq > head.lastSeq) return;
        page.push({ seq: m.seq, subject: m.subject, data: m.data });
        if (page.length < pageEvents) return;
        const full = page;
        page = [];
        return submit(full);
      });
      if (page.length) await submit(page);
      await writing;
    } finally {
      // never leave a query running on the transaction after it ends
      await writing.catch(ignore);
    }
    if (applied !== head.size) {
      throw new KoaRefusal('LEDGER_CHAIN_BROKEN', `the ledger has ${head.size} entries up to seq ${head.lastSeq} but only ${applied} were found in the stream`, { applied, size: head.size });
    }
    await touchProjectionState(em, head.lastSeq, true);
    return { untilSeq: head.lastSeq, applied, skipped, projections: PROJECTIONS.map((p) => ({ name: p.name, version: p.version })) };
  });
}

/**
 * A replayed message as the page keeps it: the delivery's bytes, decoded only when the page is
 * (a page of decoded texts lived through the young-generation collections that ran while the
 * page filled, and each one copied it; views of the delivered buffers cost a collection nothing).
 */
interface PageMessage {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
}
