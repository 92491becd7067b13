import { existsSync, readFileSync } from 'node:fs';
import { Client } from 'pg';
import { removeStackLogs, startStack, SERVICE_NAMES, type Stack } from './stack';

describe('tools/stack', () => {
  let stack: Stack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('starts its own nats-server and PostgreSQL (embedded binaries, as root too), runs all five services ready, and stops cleanly', async () => {
    const progress: string[] = [];
    stack = await startStack({ log: (l) => progress.push(l) });
    expect(stack.natsUrl).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.natsUrl).not.toBe('nats://127.0.0.1:4222');
    expect(stack.databaseUrl).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/koa$/);
    expect(stack.databaseUrl).not.toContain(':5432/');
    expect(Object.keys(stack.services).sort()).toEqual([...SERVICE_NAMES].sort());
    for (const svc of stack.running) {
      const res = await fetch(`${svc.url}/health/ready`);
      expect(res.status).toBe(200);
      expect(existsSync(svc.logFile)).toBe(true);
    }
    // each service created its own schema in the one database
    const c = new Client({ connectionString: stack.databaseUrl });
    await c.connect();
    try {
      const r = await c.query("SELECT schema_name FROM information_schema.schemata WHERE schema_name IN ('ingest','orgo','pipeline','release','ledger') ORDER BY 1");
      expect(r.rows.map((x) => x.schema_name)).toEqual(['ingest', 'ledger', 'orgo', 'pipeline', 'release']);
    } finally {
      await c.end();
    }
    expect(progress.filter((l) => / ready on /.test(l))).toHaveLength(5);

    const exits = await stack.stop();
    for (const name of SERVICE_NAMES) expect({ name, ...exits[name] }).toEqual({ name, code: 0, signal: null });
    // the private servers are gone
    for (const svc of stack.running) await expect(fetch(`${svc.url}/health/live`)).rejects.toThrow('fetch failed');
    const gone = new Client({ connectionString: stack.databaseUrl, connectionTimeoutMillis: 2000 });
    await expect(gone.connect()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    for (const svc of stack.running) expect(readFileSync(svc.logFile, 'utf8')).toContain('"msg":"stopped"');
    removeStackLogs(stack);
    stack = undefined;
  });

  it('reports a service that cannot start, with its log, and cleans up', async () => {
    await expect(
      startStack({ services: ['audit-ledger'], databaseUrl: 'postgres://postgres@127.0.0.1:1/none', readyTimeoutMs: 30_000 }),
    ).rejects.toThrow(/audit-ledger exited \(code 1[^)]*\) before it was ready:[\s\S]*DATABASE_UNAVAILABLE/);
  });
});
