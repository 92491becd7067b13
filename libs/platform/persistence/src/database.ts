import { createHash } from 'node:crypto';
import { DataSource, type DataSourceOptions, type EntitySchema, type MixedList } from 'typeorm';
import { KoaRefusal } from '@koa/contracts';

/**
 * One schema migration: plain SQL, applied once per schema, in array order, recorded by `id` in
 * `<schema>.koa_migrations` together with a sha256 of `up`. Never edit a migration that has shipped
 * (the checksum refuses it); add a new one. `up` runs with `search_path` set to the service schema,
 * so unqualified names land there.
 */
export interface Migration {
  readonly id: string;
  readonly up: string;
}

/** Entity classes or schemas of one service (TypeORM's accepted forms). */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export type EntityList = MixedList<Function | string | EntitySchema>;

export interface OpenDataSourceOptions {
  /** `postgres://` / `postgresql://` URL (the service's `DATABASE_URL`). */
  readonly url: string;
  /** The service's own Postgres schema (`ingest`, `orgo`, …): `[a-z_][a-z0-9_]*`, ≤ 63 chars. */
  readonly schema: string;
  readonly entities?: EntityList;
  readonly migrations?: readonly Migration[];
  /** Shown in `pg_stat_activity` (default `koa`). */
  readonly applicationName?: string;
  /** Connection pool size (default 10). */
  readonly poolSize?: number;
  /** Give up connecting after this long (default 5000 ms). */
  readonly connectTimeoutMs?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Refuses a schema name that is not a plain lower-case SQL identifier (it is interpolated into DDL). */
export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) {
    throw new KoaRefusal('CONFIG_INVALID', `database schema name "${schema}" is invalid: it must match [a-z_][a-z0-9_]{0,62}`, { schema });
  }
}

/** `DATABASE_URL` without credentials, safe for logs and refusals: `postgres://host:5432/db`. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/** TypeORM `DataSourceOptions` for a service schema (pooled pg connections with `search_path` set). */
export function dataSourceOptions(options: OpenDataSourceOptions): DataSourceOptions {
  assertSchemaName(options.schema);
  return {
    type: 'postgres',
    url: options.url,
    schema: options.schema,
    entities: options.entities ?? [],
    synchronize: false,
    migrationsRun: false,
    applicationName: options.applicationName ?? 'koa',
    poolSize: options.poolSize ?? 10,
    connectTimeoutMS: options.connectTimeoutMs ?? 5000,
    // every pooled connection resolves unqualified names in the service schema first
    extra: { options: `-c search_path=${options.schema},public` },
  };
}

/**
 * Initializes `dataSource`, translating any connection failure into KoaRefusal
 * `DATABASE_UNAVAILABLE` naming `DATABASE_URL` (without credentials).
 */
export async function initializeDataSource(dataSource: DataSource, url: string): Promise<DataSource> {
  try {
    if (!dataSource.isInitialized) await dataSource.initialize();
    return dataSource;
  } catch (e) {
    throw new KoaRefusal(
      'DATABASE_UNAVAILABLE',
      `DATABASE_URL ${describeDatabaseUrl(url)} could not be reached: ${(e as Error).message}`,
      { variable: 'DATABASE_URL', target: describeDatabaseUrl(url) },
      { cause: e },
    );
  }
}

/**
 * Idempotently prepares `schema` and applies `migrations` in order, inside ONE transaction holding
 * `pg_advisory_xact_lock(hashtext('koa_migrations:<schema>'))`, so that replicas booting together
 * serialize here and each migration runs exactly once:
 *
 * 1. `CREATE SCHEMA IF NOT EXISTS <schema>`;
 * 2. `CREATE TABLE IF NOT EXISTS <schema>.koa_migrations (id, checksum, applied_at)`;
 * 3. for each migration not yet recorded: run `up`, record it; for each recorded one: refuse with
 *    `CONFIG_INVALID` if its SQL changed since it was applied.
 *
 * Returns the ids applied by this call (empty when the schema was already current).
 */
export async function runMigrations(dataSource: DataSource, schema: string, migrations: readonly Migration[]): Promise<string[]> {
  assertSchemaName(schema);
  const seen = new Set<string>();
  for (const m of migrations) {
    if (!m.id || seen.has(m.id)) throw new KoaRefusal('CONFIG_INVALID', `migration id "${m.id}" in schema ${schema} is empty or duplicated`, { schema, migration: m.id });
    seen.add(m.id);
  }
  const runner = dataSource.createQueryRunner();
  const applied: string[] = [];
  try {
    await runner.connect();
    await runner.startTransaction();
    try {
      await runner.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`koa_migrations:${schema}`]);
      await runner.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await runner.query(
        `CREATE TABLE IF NOT EXISTS "${schema}".koa_migrations (id text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      await runner.query(`SET LOCAL search_path TO "${schema}", public`);
      const rows: Array<{ id: string; checksum: string }> = await runner.query(`SELECT id, checksum FROM "${schema}".koa_migrations`);
      const done = new Map(rows.map((r) => [r.id, r.checksum]));
      for (const m of migrations) {
        const checksum = createHash('sha256').update(m.up).digest('hex');
        const previous = done.get(m.id);
        if (previous !== undefined) {
          if (previous !== checksum) {
            throw new KoaRefusal('CONFIG_INVALID', `migration "${m.id}" in schema ${schema} was changed after it was applied (checksum differs); add a new migration instead`, { schema, migration: m.id });
          }
          continue;
        }
        await runner.query(m.up);
        await runner.query(`INSERT INTO "${schema}".koa_migrations (id, checksum) VALUES ($1, $2)`, [m.id, checksum]);
        applied.push(m.id);
      }
      await runner.commitTransaction();
    } catch (e) {
      await runner.rollbackTransaction().catch(() => undefined);
      throw e;
    }
  } finally {
    await runner.release();
  }
  return applied;
}

/**
 * Opens a ready-to-use DataSource for non-Nest code (CLIs, tools, tests): connects (refusing with
 * `DATABASE_UNAVAILABLE`), creates the schema and runs `migrations` (see {@link runMigrations}).
 *
 * ```ts
 * const ds = await openDataSource({ url: process.env.DATABASE_URL!, schema: 'ledger', entities: [LedgerEntry], migrations });
 * try { … } finally { await ds.destroy(); }
 * ```
 */
export async function openDataSource(options: OpenDataSourceOptions): Promise<DataSource> {
  const ds = await initializeDataSource(new DataSource(dataSourceOptions(options)), options.url);
  try {
    await runMigrations(ds, options.schema, options.migrations ?? []);
  } catch (e) {
    await ds.destroy().catch(() => undefined);
    throw e;
  }
  return ds;
}

/**
 * Readiness probe: true when `dataSource` is initialized and answers `SELECT 1` within
 * `timeoutMs` (default 1000). Never throws.
 */
export async function checkDatabase(dataSource: DataSource, timeoutMs = 1000): Promise<boolean> {
  if (!dataSource.isInitialized) return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const probe = dataSource.query('SELECT 1').then(() => true as const);
    return await Promise.race([probe, timeout]);
  } catch {
    return false;
  } finally {
    if (timer) clearTimeout(timer);
  }
}
