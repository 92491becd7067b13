import { Client } from 'pg';
import { createConnection } from 'node:net';
import { PrivateNatsServer, createThrowAwayDatabase, eventually } from '@koa/platform/testing';

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
  });

describe('test harness', () => {
  it('starts, restarts and stops a private nats-server on a random loopback port', async () => {
    const server = await PrivateNatsServer.start();
    try {
      expect(server.port).not.toBe(4222);
      expect(await canConnect(server.port)).toBe(true);
      await server.restart();
      expect(await canConnect(server.port)).toBe(true);
      await server.stop('SIGKILL');
      await eventually(async () => !(await canConnect(server.port)), { what: 'port closed' });
    } finally {
      await server.dispose();
    }
  });

  it('creates and drops a throw-away database', async () => {
    const db = await createThrowAwayDatabase();
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const r = await c.query('select current_database() as name');
    await c.end();
    expect(r.rows[0].name).toBe(db.name);
    await db.drop();
    const again = new Client({ connectionString: db.url });
    await expect(again.connect()).rejects.toMatchObject({ code: '3D000' });
  });
});

describe('private postgres', () => {
  it('starts a private cluster from the packaged binaries on a random port, as root too', async () => {
    const { PrivatePostgres } = await import('./private-postgres');
    const pg = await PrivatePostgres.start({ fast: true });
    try {
      expect(pg.port).not.toBe(5432);
      const url = await pg.createDatabase('koa_probe');
      const c = new Client({ connectionString: url });
      await c.connect();
      const r = await c.query("select current_database() as db, current_setting('lc_collate') as collate");
      await c.end();
      expect(r.rows[0]).toEqual({ db: 'koa_probe', collate: 'C' });
    } finally {
      await pg.dispose();
    }
  });
});
