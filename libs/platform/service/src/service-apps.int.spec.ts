/**
 * The five service processes, booted for real (`node -r @swc-node/register apps/<svc>/src/main.ts`)
 * against a private nats-server and a throw-away database: readiness, liveness, broker loss,
 * graceful SIGTERM, and fail-fast configuration/broker refusals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { PrivateNatsServer, createThrowAwayDatabase, eventually, freePort, type ThrowAwayDatabase } from '@koa/platform/testing';


const ROOT = resolve(__dirname, '../../../..');
const APPS = ['ingest-gateway', 'orgo-control', 'pipeline-worker', 'konnaxion-release', 'audit-ledger'] as const;

interface Proc {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function launch(app: string, env: Record<string, string | undefined>): Proc {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['NATS_URL', 'DATABASE_URL', 'HTTP_PORT', 'LOG_LEVEL'].includes(k) && !k.startsWith('OTEL_')));
  const child = spawn(process.execPath, ['-r', '@swc-node/register', `apps/${app}/src/main.ts`], {
    cwd: ROOT,
    env: { ...clean, ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  return { child, output: () => out, exited };
}

const jsonLines = (text: string): Array<Record<string, unknown>> =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`log line is not JSON: ${l}`);
      }
    });

const getJson = async (url: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('the five service processes', () => {
  let nats: PrivateNatsServer;
  let db: ThrowAwayDatabase;
  const procs: Proc[] = [];

  beforeAll(async () => {
    [nats, db] = await Promise.all([PrivateNatsServer.start(), createThrowAwayDatabase('koa_apps')]);
  });

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await nats?.dispose();
    await db?.drop();
  });

  it('each boots, reports live and ready, goes unready naming nats when the broker stops, and exits 0 on SIGTERM', async () => {
    const running = await Promise.all(
      APPS.map(async (app) => {
        const port = await freePort();
        const proc = launch(app, { NATS_URL: nats.url, DATABASE_URL: db.url, HTTP_PORT: String(port), HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'info' });
        procs.push(proc);
        return { app, proc, base: `http://127.0.0.1:${port}` };
      }),
    );

    for (const { app, proc, base } of running) {
      const ready = await eventually(
        async () => {
          if (proc.child.exitCode !== null) throw new Error(`${app} exited ${proc.child.exitCode}: ${proc.output()}`);
          const r = await getJson(`${base}/health/ready`);
          if (r.status !== 200) throw new Error(`${app} ready: ${r.status}`);
          return r;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: `${app} ready` },
      );
      expect(ready.body).toEqual({ status: 'ok', checks: { nats: 'up', database: 'up' } });
      expect(await getJson(`${base}/health/live`)).toEqual({ status: 200, body: { status: 'ok' } });
    }

    // unknown route: problem+json, NOT_FOUND
    const res = await fetch(`${running[0].base}/no/such/route`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ type: 'https://koa.dev/problems/NOT_FOUND', status: 404, code: 'NOT_FOUND', instance: '/no/such/route' });

    // the service schemas were created by each app in the shared database
    for (const { app, proc } of running) {
      const lines = jsonLines(proc.output());
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) expect(l['service']).toBe(app);
      expect(lines.some((l) => l['msg'] === 'ready' && typeof l['port'] === 'number')).toBe(true);
    }

    await nats.stop();
    for (const { app, base } of running) {
      const r = await eventually(
        async () => {
          const x = await getJson(`${base}/health/ready`);
          if (x.status !== 503) throw new Error(`${app} still ${x.status}`);
          return x;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: `${app} unready` },
      );
      expect(r.body).toEqual({ status: 'unavailable', checks: { nats: 'down', database: 'up' }, down: ['nats'] });
      expect((await getJson(`${base}/health/live`)).status).toBe(200);
    }

    await nats.restart();
    for (const { app, base } of running) {
      await eventually(async () => (await getJson(`${base}/health/ready`)).status === 200, { timeoutMs: 30_000, intervalMs: 200, what: `${app} ready again` });
    }

    for (const { proc } of running) proc.child.kill('SIGTERM');
    for (const { app, proc } of running) {
      const exit = await proc.exited;
      expect({ app, code: exit.code, signal: exit.signal }).toEqual({ app, code: 0, signal: null });
      const lines = jsonLines(proc.output());
      const stopping = lines.find((l) => l['msg'] === 'stopping' && l['signal'] === 'SIGTERM');
      const stopped = lines.find((l) => l['msg'] === 'stopped' && l['signal'] === 'SIGTERM');
      if (!stopping || !stopped) throw new Error(`${app}: no stopping/stopped lines in ${proc.output()}`);
      // a drained, orderly stop: 'stopped' comes after 'stopping' (no wall-clock bound: tests assert behaviour, not speed;
      // a hung drain would hit the 15 s shutdown deadline and exit non-zero, failing the exit-code check above)
      expect(Date.parse(stopped['time'] as string)).toBeGreaterThanOrEqual(Date.parse(stopping['time'] as string));
    }
  });

  it('refuses to start, at once and with a named variable, on bad configuration or an unreachable broker', async () => {
    const closedPort = await freePort();
    const cases = {
      malformedNats: launch('ingest-gateway', { NATS_URL: 'localhost:4222', DATABASE_URL: db.url }),
      unreachableNats: launch('orgo-control', { NATS_URL: `nats://127.0.0.1:${closedPort}`, DATABASE_URL: db.url, HTTP_PORT: String(await freePort()) }),
      missingDatabase: launch('audit-ledger', { NATS_URL: nats.url }),
      unreachableDatabase: launch('pipeline-worker', { NATS_URL: nats.url, DATABASE_URL: `postgres://koa:hunter2@127.0.0.1:${closedPort}/koa`, HTTP_PORT: String(await freePort()) }),
    };
    procs.push(...Object.values(cases));

    // Timing is measured inside the process (log timestamps), not from spawn: module loading on a
    // loaded 2-core machine takes seconds and is not what "fail fast" is about.
    const fatal = async (p: Proc) => {
      const exit = await p.exited;
      const lines = jsonLines(p.output());
      const line = lines.find((l) => l['level'] === 'fatal');
      if (!line) throw new Error(`no fatal line in: ${p.output()}`);
      const starting = lines.find((l) => l['msg'] === 'starting');
      const failedAfterMs = starting ? Date.parse(line['time'] as string) - Date.parse(starting['time'] as string) : 0;
      return { exit, line, lines, failedAfterMs };
    };

    const malformed = await fatal(cases.malformedNats);
    expect(malformed.exit.code).toBe(1);
    expect(malformed.lines).toHaveLength(1); // refused before connecting to anything
    expect(malformed.line).toMatchObject({ code: 'CONFIG_INVALID', service: 'ingest-gateway' });
    expect(malformed.line['msg']).toMatch(/NATS_URL must use the scheme nats: or tls:/);

    const unreachable = await fatal(cases.unreachableNats);
    expect(unreachable.exit.code).toBe(1);
    expect(unreachable.failedAfterMs).toBeLessThan(10_000);
    expect(unreachable.line).toMatchObject({ code: 'BROKER_UNAVAILABLE', service: 'orgo-control' });
    expect(unreachable.line['msg']).toContain(`NATS_URL nats://127.0.0.1:${closedPort}`);

    const missing = await fatal(cases.missingDatabase);
    expect(missing.exit.code).toBe(1);
    expect(missing.lines).toHaveLength(1);
    expect(missing.line).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(missing.line['msg']).toContain('DATABASE_URL is missing (required)');

    const noDb = await fatal(cases.unreachableDatabase);
    expect(noDb.exit.code).toBe(1);
    expect(noDb.failedAfterMs).toBeLessThan(15_000);
    expect(noDb.line).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    expect(noDb.line['msg']).toContain(`DATABASE_URL postgres://127.0.0.1:${closedPort}/koa`);
    expect(cases.unreachableDatabase.output()).not.toContain('hunter2');
  });
});
