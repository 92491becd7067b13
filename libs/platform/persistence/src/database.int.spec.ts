import { Client } from 'pg';
import { KoaRefusal } from '@koa/contracts';
import { createThrowAwayDatabase, freePort, type ThrowAwayDatabase } from '@koa/platform/testing';
import { checkDatabase, openDataSource, runMigrations, type Migration } from './database';

const refusalOf = async (p: Promise<unknown>): Promise<KoaRefusal> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof KoaRefusal) return e;
    throw e;
  }
  throw new Error('expected a KoaRefusal');
};

describe('persistence: schema, migrations, readiness (real Postgres)', () => {
  let db: ThrowAwayDatabase;
  beforeAll(async () => {
    db = await createThrowAwayDatabase('koa_persist');
  });
  afterAll(async () => {
    await db?.drop();
  });

  // The migration sleeps inside the lock so that two concurrent boots really overlap.
  const migrations: Migration[] = [
    { id: '001-items', up: 'CREATE TABLE items (id text PRIMARY KEY); SELECT pg_sleep(0.3);' },
    { id: '002-counter', up: "CREATE TABLE boots (n serial PRIMARY KEY); INSERT INTO boots DEFAULT VALUES;" },
  ];

  it('creates the schema and runs each migration exactly once when two DataSources boot concurrently', async () => {
    const [a, b] = await Promise.all([
      openDataSource({ url: db.url, schema: 'svc_a', migrations }),
      openDataSource({ url: db.url, schema: 'svc_a', migrations }),
    ]);
    try {
      const c = new Client({ connectionString: db.url });
      await c.connect();
      try {
        const schemas = await c.query("SELECT schema_name FROM information_schema.schemata WHERE schema_name = 'svc_a'");
        expect(schemas.rowCount).toBe(1);
        const recorded = await c.query('SELECT id FROM svc_a.koa_migrations ORDER BY id');
        expect(recorded.rows.map((r) => r.id)).toEqual(['001-items', '002-counter']);
        const boots = await c.query('SELECT count(*)::int AS n FROM svc_a.boots');
        expect(boots.rows[0].n).toBe(1);
      } finally {
        await c.end();
      }
      // unqualified names resolve in the service schema (search_path)
      await a.query("INSERT INTO items (id) VALUES ('x')");
      expect(await b.query('SELECT id FROM items')).toEqual([{ id: 'x' }]);
      // a third boot applies nothing
      expect(await runMigrations(a, 'svc_a', migrations)).toEqual([]);
      expect(await checkDatabase(a)).toBe(true);
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
    }
    expect(await checkDatabase(a)).toBe(false);
  });

  it('refuses a migration that was edited after it was applied (CONFIG_INVALID) and applies nothing of the batch', async () => {
    const ds = await openDataSource({ url: db.url, schema: 'svc_b', migrations: [{ id: '001', up: 'CREATE TABLE t (a int)' }] });
    try {
      const e = await refusalOf(runMigrations(ds, 'svc_b', [{ id: '001', up: 'CREATE TABLE t (a bigint)' }, { id: '002', up: 'CREATE TABLE u (a int)' }]));
      expect(e.code).toBe('CONFIG_INVALID');
      expect(e.message).toContain('"001"');
      const rows = await ds.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'svc_b' AND table_name = 'u'");
      expect(rows[0].n).toBe(0);
    } finally {
      await ds.destroy();
    }
  });

  it('rolls back a failing migration entirely', async () => {
    const ds = await openDataSource({ url: db.url, schema: 'svc_c' });
    try {
      await expect(runMigrations(ds, 'svc_c', [{ id: '001', up: 'CREATE TABLE ok (a int)' }, { id: '002', up: 'CREATE TABLE broken (' }])).rejects.toMatchObject({ code: '42601' });
      expect(await ds.query('SELECT id FROM svc_c.koa_migrations')).toEqual([]);
    } finally {
      await ds.destroy();
    }
  });

  it('refuses a schema name that is not a plain identifier (CONFIG_INVALID)', async () => {
    const e = await refusalOf(openDataSource({ url: db.url, schema: 'x"; DROP SCHEMA public; --' }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain('schema name');
  });

  it('translates an unreachable database into DATABASE_UNAVAILABLE naming DATABASE_URL without the password', async () => {
    const port = await freePort();
    const e = await refusalOf(openDataSource({ url: `postgres://koa:hunter2@127.0.0.1:${port}/nowhere`, schema: 'svc_d', connectTimeoutMs: 2000 }));
    expect(e.code).toBe('DATABASE_UNAVAILABLE');
    expect(e.message).toContain(`DATABASE_URL postgres://127.0.0.1:${port}/nowhere`);
    expect(e.message).not.toContain('hunter2');
  });
});
