/**
 * `createServiceApp` in-process against a private nats-server and a throw-away database: the
 * kernel tokens a feature module can inject, the service's migrations, problem+json for every kind
 * of error, and a clean close.
 */
import { Writable } from 'node:stream';
import { BadRequestException, Controller, Get, Inject, Module } from '@nestjs/common';
import { Client } from 'pg';
import { KoaRefusal } from '@koa/contracts';
import { createLogger } from '@koa/platform/observability';
import { PrivateNatsServer, createThrowAwayDatabase, eventually, freePort, type ThrowAwayDatabase } from '@koa/platform/testing';
import type { Messaging } from '@koa/platform/messaging';
import { createServiceApp, type ServiceApp } from './bootstrap';
import { CLOCK, ID_FACTORY, MESSAGING, SERVICE_CONFIG, SERVICE_NAME, type Clock, type IdFactory, type ServiceConfig } from './index';


@Controller('probe')
class ProbeController {
  constructor(
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(ID_FACTORY) private readonly ids: IdFactory,
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
    @Inject(SERVICE_NAME) private readonly name: string,
    @Inject(MESSAGING) private readonly messaging: Messaging,
  ) {}

  @Get('kernel')
  async kernel() {
    return { now: this.clock.now().toISOString(), id: this.ids.next(), port: this.config.HTTP_PORT, name: this.name, natsUp: await this.messaging.ping(10_000) }; // returns at once while the server answers
  }
  @Get('refusal')
  refusal(): never {
    throw new KoaRefusal('CASE_NOT_FOUND', 'case c-404 does not exist for tenant acme', { caseId: 'c-404' });
  }
  @Get('bad')
  bad(): never {
    throw new BadRequestException('tenant must be a token');
  }
  @Get('crash')
  crash(): never {
    throw new Error('connection string postgres://admin:hunter2@db leaked');
  }
}

@Module({ controllers: [ProbeController] })
class ProbeModule {}

describe('createServiceApp (in process)', () => {
  let nats: PrivateNatsServer;
  let db: ThrowAwayDatabase;
  let service: ServiceApp | undefined;
  let base: string;
  const logged: string[] = [];
  const running = (): ServiceApp => {
    if (!service) throw new Error('service not running');
    return service;
  };

  beforeAll(async () => {
    [nats, db] = await Promise.all([PrivateNatsServer.start(), createThrowAwayDatabase('koa_svcapp')]);
    const port = await freePort();
    service = await createServiceApp(
      { name: 'probe-service', module: ProbeModule, consumers: [], dbSchema: 'probe', migrations: [{ id: '001', up: 'CREATE TABLE things (id text PRIMARY KEY)' }], defaultHttpPort: 1 },
      {
        env: { NATS_URL: nats.url, DATABASE_URL: db.url, HTTP_PORT: String(port), HTTP_HOST: '127.0.0.1', SERVICE_INSTANCE: 'probe-1' },
        clock: { now: () => new Date('2030-01-02T03:04:05.000Z') },
        ids: { next: () => 'id-1' },
        logger: createLogger('probe-service', { level: 'debug', destination: new Writable({ write: (c, _e, cb) => (logged.push(c.toString()), cb()) }) }),
      },
    );
    base = await service.listen();
  });

  afterAll(async () => {
    await service?.close();
    await nats?.dispose();
    await db?.drop();
  });

  it('provides the kernel tokens to feature modules', async () => {
    const res = await fetch(`${base}/probe/kernel`);
    expect(await res.json()).toEqual({ now: '2030-01-02T03:04:05.000Z', id: 'id-1', port: running().config.HTTP_PORT, name: 'probe-service', natsUp: true });
  });

  it("applied the service's migrations in its own schema, next to the inbox", async () => {
    const c = new Client({ connectionString: db.url });
    await c.connect();
    try {
      const r = await c.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'probe' ORDER BY 1");
      expect(r.rows.map((x) => x.table_name)).toEqual(['koa_inbox', 'koa_migrations', 'things']);
    } finally {
      await c.end();
    }
  });

  it('maps a KoaRefusal to problem+json with the catalog status', async () => {
    const res = await fetch(`${base}/probe/refusal`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toEqual({
      type: 'https://koa.dev/problems/CASE_NOT_FOUND',
      title: 'No Case with that id exists for this tenant.',
      status: 404,
      detail: 'case c-404 does not exist for tenant acme',
      code: 'CASE_NOT_FOUND',
      instance: '/probe/refusal',
      details: { caseId: 'c-404' },
    });
  });

  it('maps a Nest HttpException to REQUEST_INVALID', async () => {
    const res = await fetch(`${base}/probe/bad`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'REQUEST_INVALID', status: 400, detail: 'tenant must be a token' });
  });

  it('maps anything else to INTERNAL 500 without leaking it, and logs it', async () => {
    const res = await fetch(`${base}/probe/crash`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ code: 'INTERNAL', status: 500, type: 'https://koa.dev/problems/INTERNAL' });
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('leaked');
    const line = logged.map((l) => JSON.parse(l)).find((l) => l.context === 'ProblemDetails' && l.level === 'error');
    expect(line).toMatchObject({ code: 'INTERNAL', service: 'probe-service', msg: 'GET /probe/crash failed' });
    expect(line.err.message).toContain('leaked'); // the log has the cause, the response does not
  });

  it('turns unready naming the database when it goes away, staying live', async () => {
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    await db.drop(); // forces every session off; reconnects then fail: the database no longer exists
    const res = await eventually(
      async () => {
        const r = await fetch(`${base}/health/ready`);
        if (r.status !== 503) throw new Error(`still ${r.status}`);
        return r;
      },
      { what: 'ready 503' },
    );
    expect(await res.json()).toEqual({ status: 'unavailable', checks: { nats: 'up', database: 'down' }, down: ['database'] });
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
  });

  it('closes cleanly: HTTP stops and NATS disconnects', async () => {
    const s = running();
    service = undefined;
    await s.close();
    await expect(fetch(`${base}/health/live`)).rejects.toThrow('fetch failed');
    expect(await s.messaging.ping(500)).toBe(false);
  });
});
