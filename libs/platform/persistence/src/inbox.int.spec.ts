import { DataSource } from 'typeorm';
import { inboxStoreContract } from '@koa/platform/messaging/testing';
import { createThrowAwayDatabase, type ThrowAwayDatabase } from '@koa/platform/testing';
import { PgInboxStore } from './inbox';

let db: ThrowAwayDatabase;
let ds: DataSource;

async function open(): Promise<PgInboxStore> {
  db = await createThrowAwayDatabase('koa_inbox');
  ds = new DataSource({ type: 'postgres', url: db.url, poolSize: 8 });
  await ds.initialize();
  const store = new PgInboxStore(ds, 'inbox_test');
  await store.ensureSchema();
  await store.ensureSchema(); // idempotent
  return store;
}

async function close(): Promise<void> {
  await ds?.destroy();
  await db?.drop();
}

inboxStoreContract('PgInboxStore', async () => ({ store: await open(), teardown: close }));

describe('PgInboxStore (Postgres specifics)', () => {
  let store: PgInboxStore;
  beforeAll(async () => {
    store = await open();
    await ds.query('CREATE TABLE inbox_test.rows (id text PRIMARY KEY)');
  });
  afterAll(close);

  it('commits the handler writes together with the key, and rolls both back on failure', async () => {
    await store.runOnce('c1', 'k1', async (tx) => {
      await (tx as import('typeorm').EntityManager).query('INSERT INTO inbox_test.rows (id) VALUES ($1)', ['k1']);
    });
    await expect(
      store.runOnce('c1', 'k2', async (tx) => {
        await (tx as import('typeorm').EntityManager).query('INSERT INTO inbox_test.rows (id) VALUES ($1)', ['k2']);
        throw new Error('handler failed after writing');
      }),
    ).rejects.toThrow('handler failed after writing');
    const rows: Array<{ id: string }> = await ds.query('SELECT id FROM inbox_test.rows ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual(['k1']);
    expect(await store.has('c1', 'k1')).toBe(true);
    expect(await store.has('c1', 'k2')).toBe(false);
  });

  it('refuses an unsafe schema name with CONFIG_INVALID', () => {
    expect(() => new PgInboxStore(ds, 'x"; drop table y; --')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
