import type { EntityManager } from 'typeorm';
import { rowKey, TABLE_COLUMNS, TABLE_KEYS, type Cell, type ProjectionTable, type RowUpsert } from '@koa/ledger/domain';

/**
 * Batched projection writes: upserts are FOLDED per row (table + key) with exactly the merge
 * semantics of `RowUpsert` / the domain's `applyUpserts`, then written as multi-row
 * `INSERT … ON CONFLICT … DO UPDATE` statements, one per tenant and column shape (a key occurs
 * at most once per statement, which Postgres requires and the fold guarantees).
 *
 * Folding A then B (same row) into one upsert is exact whether or not the row exists yet:
 * - row absent:  A inserts `{…A.setOnInsert, …A.set}`, B overwrites `B.set` ⇒ insert
 *   `{…A.setOnInsert, …A.set, …B.set}` (B's `setOnInsert` is never used: the row exists for B);
 * - row present: A then B overwrite their `set` columns ⇒ update `{…A.set, …B.set}`.
 * So the folded upsert is `{ key, setOnInsert: A.setOnInsert, set: {…A.set, …B.set} }`.
 */

/** One row's folded upsert. */
interface FoldedUpsert {
  readonly table: ProjectionTable;
  readonly key: Readonly<Record<string, string | number>>;
  readonly set: Record<string, Cell>;
  readonly setOnInsert: Readonly<Record<string, Cell>>;
}

/** Upserts folded per row, in first-touch order. */
export class UpsertFold {
  private readonly rows = new Map<string, FoldedUpsert>();

  /** Folds upserts in order (later `set` columns win; the first upsert's `setOnInsert` is kept). */
  add(upserts: readonly RowUpsert[]): void {
    for (const u of upserts) {
      const k = `${u.table} ${rowKey(u.table, u.key)}`;
      const f = this.rows.get(k);
      if (f) Object.assign(f.set, u.set);
      else this.rows.set(k, { table: u.table, key: u.key, set: { ...u.set }, setOnInsert: u.setOnInsert ?? {} });
    }
  }

  get size(): number {
    return this.rows.size;
  }

  values(): IterableIterator<FoldedUpsert> {
    return this.rows.values();
  }
}

const JSONB = new Set(['trigger', 'intent', 'provenance', 'inputs', 'stats', 'failures', 'checks', 'previous']);
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const ALLOWED = new Map<string, ReadonlySet<string>>(Object.entries(TABLE_COLUMNS).map(([t, cols]) => [t, new Set<string>(cols)]));

/** The value bound for a column: JSONB columns as JSON text, undefined as NULL. */
export function encodeCell(column: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  return JSONB.has(column) ? JSON.stringify(value) : value;
}

/** Rows of one table with the same insert and update columns: one statement shape. */
interface Group {
  readonly table: ProjectionTable;
  readonly insert: readonly string[];
  readonly update: readonly string[];
  readonly rows: FoldedUpsert[];
}

/** A parameterised SQL piece whose placeholders start at `$1` (renumbered when combined). */
export interface SqlPiece {
  readonly params: readonly unknown[];
  /** builds the text with placeholders offset by `base` (`$${base + i + 1}`) */
  text(base: number): string;
}

/** Rows per multi-row statement. */
export const UPSERT_ROWS_PER_STATEMENT = 500;

/** SQL types of the projection columns that are not `text` (see the ledger migrations). */
const SQL_TYPE: Readonly<Record<string, string>> = {
  firstSeq: 'bigint', seq: 'bigint', size: 'bigint', packSize: 'bigint',
  version: 'integer', rulesEvaluated: 'integer', rulesPassed: 'integer', rulesFailed: 'integer', truncated: 'integer',
  passed: 'boolean',
  ...Object.fromEntries([...JSONB].map((c) => [c, 'jsonb'])),
};

/**
 * Groups folded upserts by tenant, then by (table, insert columns, update columns), and returns
 * the statement pieces per tenant, each of at most `rowsPerStatement` rows. Column names come
 * only from the domain's whitelist (`TABLE_COLUMNS`); anything else is a TypeError.
 */
export function upsertPieces(fold: UpsertFold, rowsPerStatement = UPSERT_ROWS_PER_STATEMENT): Map<string, SqlPiece[]> {
  const byTenant = new Map<string, Map<string, Group>>();
  for (const u of fold.values()) {
    const tenant = String(u.key['tenant']);
    let groups = byTenant.get(tenant);
    if (!groups) byTenant.set(tenant, (groups = new Map()));
    // rows an event type writes share their column lists: the shape is found without sorting
    const sig = `${u.table}|${Object.keys(u.setOnInsert).join(',')}|${Object.keys(u.set).join(',')}`;
    let g = groups.get(sig);
    if (!g) groups.set(sig, (g = groupOf(u)));
    g.rows.push(u);
  }
  const out = new Map<string, SqlPiece[]>();
  for (const [tenant, groups] of byTenant) {
    const pieces: SqlPiece[] = [];
    for (const g of groups.values()) {
      for (let i = 0; i < g.rows.length; i += rowsPerStatement) pieces.push(groupPiece(g, g.rows.slice(i, i + rowsPerStatement)));
    }
    out.set(tenant, pieces);
  }
  return out;
}

/** The statement shape of a row: its insert columns (whitelisted) and the columns it updates. */
function groupOf(u: FoldedUpsert): Group {
  const insert = Object.keys({ ...u.setOnInsert, ...u.set, ...u.key });
  const allowed = ALLOWED.get(u.table);
  for (const n of insert) if (!allowed?.has(n)) throw new TypeError(`upsert: column ${n} is not a column of ledger.${u.table}`);
  return { table: u.table, insert, update: Object.keys(u.set).filter((c) => !(c in u.key)), rows: [] };
}

/** The value a folded row inserts into column `c` (`{ ...setOnInsert, ...set, ...key }`). */
function cellOf(u: FoldedUpsert, c: string): unknown {
  if (c in u.key) return u.key[c];
  if (c in u.set) return u.set[c];
  return u.setOnInsert[c];
}

/**
 * One multi-row upsert with one parameter per COLUMN, so the statement text depends only on the
 * column shape (short to send and parse, whatever the row count) and rows cost no placeholders.
 *
 * Each column goes as a JSON array (`jsonb_array_elements[_text]($n::jsonb)`, zipped with
 * `ROWS FROM`): one native `JSON.stringify` per column, with JSONB cells embedded as they are,
 * instead of the driver escaping every element into a Postgres array literal (and every JSONB
 * cell into a JSON string first). When a column's JSON could read back differently from the
 * array form (a `\u` escape: lone surrogates or NUL; a number in a scalar column that is not a
 * safe integer; a non-finite number as a JSONB cell; an object in a scalar column), the piece
 * uses `unnest($n::type[], …)` as before. Both forms write the same rows: the int tests compare
 * them with the in-memory reference (`applyUpserts`).
 */
function groupPiece(g: Group, rows: readonly FoldedUpsert[]): SqlPiece {
  const cells = g.insert.map((c) => rows.map((r) => cellValue(cellOf(r, c))));
  const json = jsonColumns(g.insert, cells);
  const params = json ?? g.insert.map((c, j) => cells[j].map((v) => encodeCell(c, v)));
  const cols = g.insert.map((n) => `"${snake(n)}"`).join(', ');
  const head = json
    ? `INSERT INTO ledger.${g.table} (${cols}) SELECT ${g.insert.map((c, j) => (JSONB.has(c) ? `NULLIF(c${j}, 'null'::jsonb)` : `c${j}::${SQL_TYPE[c] ?? 'text'}`)).join(', ')} FROM ROWS FROM (`
    : `INSERT INTO ledger.${g.table} (${cols}) SELECT * FROM unnest(`;
  const tail =
    (json ? `) AS r(${g.insert.map((_, j) => `c${j}`).join(', ')})` : ')') +
    ` ON CONFLICT (${TABLE_KEYS[g.table].map((k) => `"${snake(k)}"`).join(', ')}) ` +
    (g.update.length ? `DO UPDATE SET ${g.update.map((c) => `"${snake(c)}" = EXCLUDED."${snake(c)}"`).join(', ')}` : 'DO NOTHING');
  return {
    params,
    text: json
      ? (base) => head + g.insert.map((c, j) => `jsonb_array_elements${JSONB.has(c) ? '' : '_text'}($${base + j + 1}::jsonb)`).join(', ') + tail
      : (base) => head + g.insert.map((c, j) => `$${base + j + 1}::${SQL_TYPE[c] ?? 'text'}[]`).join(', ') + tail,
  };
}

/** A cell as bound: undefined is NULL. */
const cellValue = (v: unknown): unknown => (v === undefined ? null : v);

/**
 * The columns as JSON arrays, or undefined if any cell could read back from JSON differently
 * than from the array form (see {@link groupPiece}).
 */
function jsonColumns(columns: readonly string[], cells: readonly unknown[][]): string[] | undefined {
  const out: string[] = [];
  for (let j = 0; j < columns.length; j++) {
    const jsonb = JSONB.has(columns[j]);
    for (const v of cells[j]) {
      // (a non-finite JSONB cell is JSON `null` in the array form, SQL NULL after NULLIF here)
      if (typeof v === 'number' ? !(jsonb ? Number.isFinite(v) : Number.isSafeInteger(v)) : !jsonb && typeof v === 'object' && v !== null) return undefined;
    }
    const text = JSON.stringify(cells[j]);
    if (text.includes('\\u')) return undefined;
    out.push(text);
  }
  return out;
}

/** Parameters per combined statement (Postgres allows 65,535; an unnest piece has one per column). */
const MAX_PARAMS_PER_STATEMENT = 30_000;

/**
 * Combines pieces into as few statements as possible (data-modifying CTEs: `WITH p0 AS (…),
 * p1 AS (…) <last piece>`), each under the parameter limit. Every piece runs exactly once;
 * pieces of one statement must not touch the same row twice (folded upserts never do).
 */
export function combinePieces(pieces: readonly SqlPiece[]): Array<{ text: string; params: unknown[] }> {
  const out: Array<{ text: string; params: unknown[] }> = [];
  let batch: SqlPiece[] = [];
  let count = 0;
  const emit = () => {
    if (!batch.length) return;
    const params: unknown[] = [];
    const texts = batch.map((p) => {
      const t = p.text(params.length);
      for (const v of p.params) params.push(v);
      return t;
    });
    const last = texts.pop() as string;
    out.push({ text: texts.length ? `WITH ${texts.map((t, i) => `p${i} AS (${t})`).join(', ')} ${last}` : last, params });
    batch = [];
    count = 0;
  };
  for (const p of pieces) {
    if (count > 0 && count + p.params.length > MAX_PARAMS_PER_STATEMENT) emit();
    batch.push(p);
    count += p.params.length;
  }
  emit();
  return out;
}

/**
 * Writes folded upserts in the transaction of `em`: per tenant, `koa.tenant` is set (row-level
 * security checks every row) and the tenant's rows go out as multi-row statements.
 * `current` is the tenant already set in this transaction, if known; returns the one set last.
 */
export async function writeFold(em: EntityManager, fold: UpsertFold, current?: string): Promise<string | undefined> {
  let tenant = current;
  for (const [t, pieces] of upsertPieces(fold)) {
    if (t !== tenant) {
      await em.query(`SELECT set_config('koa.tenant', $1, true)`, [t]);
      tenant = t;
    }
    for (const s of combinePieces(pieces)) await em.query(s.text, s.params);
  }
  return tenant;
}
