import { Client } from 'pg';
import { sha256Digest } from '@koa/contracts';
import { ADAPTERS, buildProvenance, snapshotCapturedEvent } from '@koa/ingest/domain';
import { DataSource, dataSourceOptions, openDataSource } from '@koa/platform/persistence';
import { createThrowAwayDatabase, testPgAdminUrl, uniqueName, type ThrowAwayDatabase } from '@koa/platform/testing';
import { INGEST_MIGRATIONS, INGEST_SCHEMA, SnapshotReadModel } from '@koa/ingest/data-access';

const captured = (tenant: string, content: string, minute: number, source = 'docs') => {
  const time = `2026-03-01T10:${String(minute).padStart(2, '0')}:00.000Z`;
  return snapshotCapturedEvent(
    { id: `e-${tenant}-${content}`, time, tenant, actor: 'user:alice', reason: 'seed' },
    { digest: sha256Digest(content), size: content.length, mediaType: 'text/plain', source, provenance: buildProvenance({ adapter: ADAPTERS.httpUpload, capturedAt: time, sourceRef: `${content}.txt`, validators: { etag: '"e"' } }) },
  );
};

describe('ingest.snapshots read model (real Postgres)', () => {
  let db: ThrowAwayDatabase;
  let ds: DataSource;
  let model: SnapshotReadModel;

  beforeAll(async () => {
    db = await createThrowAwayDatabase('koa_ingest');
    ds = await openDataSource({ url: db.url, schema: INGEST_SCHEMA, migrations: INGEST_MIGRATIONS });
    model = new SnapshotReadModel(ds);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('projects SnapshotCaptured with its provenance; a replay changes nothing', async () => {
    const e = captured('t1', 'alpha', 1);
    expect(await model.apply(e)).toBe(true);
    expect(await model.apply(e)).toBe(false);
    expect(await model.get('t1', sha256Digest('alpha'))).toEqual({
      tenant: 't1',
      digest: sha256Digest('alpha'),
      size: 5,
      mediaType: 'text/plain',
      source: 'docs',
      objectName: `t1/${sha256Digest('alpha').slice(7)}`,
      provenance: { adapter: ADAPTERS.httpUpload, sourceRef: 'alpha.txt', capturedAt: '2026-03-01T10:01:00.000Z', validators: { etag: '"e"' } },
      actor: 'user:alice',
      reason: 'seed',
      eventId: 'e-t1-alpha',
      capturedAt: '2026-03-01T10:01:00.000Z',
    });
    expect(await model.get('t2', sha256Digest('alpha'))).toBeUndefined();
  });

  it('applies inside a caller transaction (the inbox transaction) and rolls back with it', async () => {
    await expect(
      ds.transaction(async (m) => {
        await model.apply(captured('t1', 'rolled-back', 2), m);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await model.get('t1', sha256Digest('rolled-back'))).toBeUndefined();
  });

  it('lists newest first, by source, paged by time; reports missing digests', async () => {
    await model.apply(captured('t1', 'beta', 3, 'feed'));
    await model.apply(captured('t1', 'gamma', 4));
    expect((await model.list('t1')).map((r) => r.digest)).toEqual([sha256Digest('gamma'), sha256Digest('beta'), sha256Digest('alpha')]);
    expect((await model.list('t1', { source: 'feed' })).map((r) => r.digest)).toEqual([sha256Digest('beta')]);
    expect((await model.list('t1', { before: '2026-03-01T10:04:00.000Z', limit: 1 })).map((r) => r.digest)).toEqual([sha256Digest('beta')]);
    expect(await model.missing('t1', [sha256Digest('alpha'), sha256Digest('zeta')])).toEqual([sha256Digest('zeta')]);
  });

  it('refuses bad input with codes', async () => {
    await expect(model.get('t1', 'sha256:nothex')).rejects.toMatchObject({ code: 'REQUEST_INVALID' });
    await expect(model.get('t 1', sha256Digest('a'))).rejects.toMatchObject({ code: 'SUBJECT_TOKEN_INVALID' });
    await expect(model.list('t1', { limit: 0 })).rejects.toMatchObject({ code: 'REQUEST_INVALID' });
    await expect(model.list('t1', { source: 'a.b' })).rejects.toMatchObject({ code: 'SUBJECT_TOKEN_INVALID' });
  });

  it('row-level security: apply as a plain role passes the policy check for its own tenant (koa.tenant set by the insert itself)', async () => {
    const role = uniqueName('koa_ing_rlsw').toLowerCase();
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    let plain: DataSource | undefined;
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`GRANT USAGE ON SCHEMA ${INGEST_SCHEMA} TO ${role}; GRANT SELECT, INSERT ON ${INGEST_SCHEMA}.snapshots TO ${role}`);
      const url = new URL(db.url);
      url.username = role;
      plain = new DataSource(dataSourceOptions({ url: url.toString(), schema: INGEST_SCHEMA, poolSize: 1 }));
      await plain.initialize();
      const asPlain = new SnapshotReadModel(plain);
      // one transaction, tenants alternating (as in a consumer batch), one insert refused in the middle under a savepoint
      await plain.transaction(async (m) => {
        expect(await asPlain.apply(captured('rls-a', 'w1', 1), m)).toBe(true);
        await m.query('SAVEPOINT s');
        await expect(asPlain.apply({ ...captured('rls-b', 'w-bad', 2), data: { ...captured('rls-b', 'w-bad', 2).data, digest: 'sha256:nope' as `sha256:${string}` } }, m)).rejects.toThrow(/snapshots_digest_check/);
        await m.query('ROLLBACK TO SAVEPOINT s');
        expect(await asPlain.apply(captured('rls-b', 'w2', 3), m)).toBe(true);
        expect(await asPlain.apply(captured('rls-a', 'w3', 4), m)).toBe(true);
        expect(await m.query(`SELECT current_setting('koa.tenant') AS t`)).toEqual([{ t: 'rls-a' }]);
      });
      expect((await asPlain.get('rls-a', sha256Digest('w1')))?.tenant).toBe('rls-a');
      expect((await asPlain.get('rls-b', sha256Digest('w2')))?.tenant).toBe('rls-b');
      expect((await asPlain.get('rls-a', sha256Digest('w3')))?.tenant).toBe('rls-a');
      expect(await asPlain.get('rls-b', sha256Digest('w1'))).toBeUndefined();
      // a row whose tenant is not koa.tenant is still refused by the policy for this role
      await expect(
        plain.transaction(async (m) => {
          await m.query(`SELECT set_config('koa.tenant', 'rls-a', true)`);
          await m.query(`INSERT INTO ${INGEST_SCHEMA}.snapshots (tenant, digest, size, media_type, source, object_name, source_ref, adapter, provenance, actor, event_id, captured_at) VALUES ('rls-b', $1, 1, 'text/plain', 's', 'o', 'r', 'a', '{}', 'user:x', 'e', now())`, [sha256Digest('forged')]);
        }),
      ).rejects.toThrow(/row-level security/);
    } finally {
      await plain?.destroy().catch(() => undefined);
      await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await admin.end();
      const root = new Client({ connectionString: testPgAdminUrl() });
      await root.connect();
      await root.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await root.end();
    }
  });

  it('row-level security: a plain role sees only the tenant set in koa.tenant', async () => {
    await model.apply(captured('t2', 'other', 5));
    const role = uniqueName('koa_ing_rls').toLowerCase();
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`GRANT USAGE ON SCHEMA ${INGEST_SCHEMA} TO ${role}; GRANT SELECT ON ${INGEST_SCHEMA}.snapshots TO ${role}`);
      const url = new URL(db.url);
      url.username = role;
      const c = new Client({ connectionString: url.toString() });
      await c.connect();
      try {
        expect((await c.query(`SELECT tenant FROM ${INGEST_SCHEMA}.snapshots`)).rows).toEqual([]);
        await c.query('BEGIN');
        await c.query(`SELECT set_config('koa.tenant', 't2', true)`);
        const rows = (await c.query(`SELECT tenant, source FROM ${INGEST_SCHEMA}.snapshots`)).rows;
        await c.query('COMMIT');
        expect(rows).toEqual([{ tenant: 't2', source: 'docs' }]);
      } finally {
        await c.end();
      }
    } finally {
      await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await admin.end();
      const root = new Client({ connectionString: testPgAdminUrl() });
      await root.connect();
      await root.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await root.end();
    }
  });
});
