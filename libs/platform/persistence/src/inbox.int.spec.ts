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
  // a deferred constraint is checked at COMMIT: a row violating it makes the commit itself fail
  await ds.query('CREATE TABLE inbox_test.poison (id int PRIMARY KEY, parent int REFERENCES inbox_test.poison (id) DEFERRABLE INITIALLY DEFERRED)');
  return store;
}

async function close(): Promise<void> {
  await ds?.destroy();
  await db?.drop();
}

let poisonId = 0;
inboxStoreContract('PgInboxStore', async () => ({
  store: await open(),
  teardown: close,
  poisonCommit: async (tx) => {
    await (tx as import('typeorm').EntityManager).query('INSERT INTO inbox_test.poison (id, parent) VALUES ($1, -1)', [++poisonId]);
  },
}));

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

  it('runBatch: a failed item (even an SQL error) rolls back to its savepoint; the writes of its neighbours commit', async () => {
    const tx = (t: unknown) => t as import('typeorm').EntityManager;
    const r = await store.runBatch('c2', ['a', 'b', 'c', 'd'], async (i, t) => {
      await tx(t).query('INSERT INTO inbox_test.rows (id) VALUES ($1)', [`batch-${i}`]);
      if (i === 1) throw new Error('handler failed after writing');
      if (i === 2) await tx(t).query('INSERT INTO inbox_test.rows (id) VALUES ($1)', ['batch-0']); // duplicate key: the tx is aborted until rolled back
      return i;
    });
    expect(r.map((o) => o.status)).toEqual(['done', 'failed', 'failed', 'done']);
    const rows: Array<{ id: string }> = await ds.query(`SELECT id FROM inbox_test.rows WHERE id LIKE 'batch-%' ORDER BY id`);
    expect(rows.map((x) => x.id)).toEqual(['batch-0', 'batch-3']);
    expect(await Promise.all(['a', 'b', 'c', 'd'].map((k) => store.has('c2', k)))).toEqual([true, false, false, true]);
  });

  it('runBatch hands out a manager whose transaction TypeORM knows about (nested transaction() is a savepoint inside it)', async () => {
    const tx = (t: unknown) => t as import('typeorm').EntityManager;
    const r = await store.runBatch('c4', ['n1', 'n2'], async (i, t) => {
      expect(tx(t).queryRunner?.isTransactionActive).toBe(true);
      await tx(t).transaction(async (m) => {
        await m.query('INSERT INTO inbox_test.rows (id) VALUES ($1)', [`nested-${i}`]);
        if (i === 1) throw new Error('inner failure');
      });
    });
    expect(r.map((o) => o.status)).toEqual(['done', 'failed']);
    const rows: Array<{ id: string }> = await ds.query(`SELECT id FROM inbox_test.rows WHERE id LIKE 'nested-%' ORDER BY id`);
    expect(rows.map((x) => x.id)).toEqual(['nested-0']);
  });

    it('runBatch records keys with quotes, backslashes and SQL verbatim (escaped literals), and finds them again', async () => {
    const keys = ["/koa/x#a'b", '/koa/x#c\\d', "/koa/x#e'); DROP TABLE inbox_test.rows; --", '/koa/x#ünï €', '/koa/x#$1'];
    const first = await store.runBatch('c3', keys, async (i) => i);
    expect(first.map((o) => o.status)).toEqual(keys.map(() => 'done'));
    for (const k of keys) expect(await store.has('c3', k)).toBe(true);
    expect((await store.runBatch('c3', keys, async (i) => i)).map((o) => o.status)).toEqual(keys.map(() => 'duplicate'));
    const rows: Array<{ n: number }> = await ds.query('SELECT count(*)::int AS n FROM inbox_test.rows');
    expect(rows[0].n).toBeGreaterThanOrEqual(0); // the table is still there
  });

    it('refuses an unsafe schema name with CONFIG_INVALID', () => {
    expect(() => new PgInboxStore(ds, 'x"; drop table y; --')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('PgInboxStore.statementSnapshots (whether the transport may begin a batch before the previous one committed)', () => {
  let own: ThrowAwayDatabase;
  const opened: DataSource[] = [];
  beforeAll(async () => {
    own = await createThrowAwayDatabase('koa_inbox_iso');
  });
  afterAll(async () => {
    for (const d of opened) await d.destroy().catch(() => undefined);
    await own?.drop();
  });
  async function storeOn(options: { isolationLevel?: 'REPEATABLE READ'; sessionIsolation?: string } = {}): Promise<PgInboxStore> {
    const d = new DataSource({
      type: 'postgres',
      url: own.url,
      poolSize: 2,
      ...(options.isolationLevel && { isolationLevel: options.isolationLevel }),
      ...(options.sessionIsolation && { extra: { options: `-c default_transaction_isolation=${options.sessionIsolation}` } }),
    });
    await d.initialize();
    opened.push(d);
    return new PgInboxStore(d, 'inbox_iso');
  }

  it('is true after ensureSchema under READ COMMITTED (the default), false before it', async () => {
    const store = await storeOn();
    expect(store.statementSnapshots).toBe(false);
    await store.ensureSchema();
    expect(store.statementSnapshots).toBe(true);
  });

  it('is false when the sessions default to a stricter isolation level (a snapshot per transaction)', async () => {
    const store = await storeOn({ sessionIsolation: 'repeatable\\ read' });
    await store.ensureSchema();
    expect(store.statementSnapshots).toBe(false);
    const [row] = await opened[opened.length - 1].query('SHOW default_transaction_isolation');
    expect(row.default_transaction_isolation).toBe('repeatable read'); // the setting really applied
  });

  it('is false when the data source configures an isolation level', async () => {
    const store = await storeOn({ isolationLevel: 'REPEATABLE READ' });
    await store.ensureSchema();
    expect(store.statementSnapshots).toBe(false);
  });
});
