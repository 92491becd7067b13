import { Client } from 'pg';
import { ReleaseActivated, createEvent, sha256Digest } from '@koa/contracts';
import { openDataSource, type DataSource } from '@koa/platform/persistence';
import { createThrowAwayDatabase, testPgAdminUrl, uniqueName, type ThrowAwayDatabase } from '@koa/platform/testing';
import { ChannelReadModel } from './channel-read-model';
import { RELEASE_MIGRATIONS, RELEASE_SCHEMA } from './migrations';

const activated = (tenant: string, version: number, releaseId: string, channel = 'stable') =>
  createEvent(ReleaseActivated, {
    id: `${releaseId}.activated`,
    time: '2026-11-26T10:00:00.000Z',
    source: 'konnaxion-release',
    tenant,
    aggregateId: releaseId,
    actor: 'service:konnaxion-release',
    data: {
      releaseId,
      caseId: 'case-1',
      taskId: 't',
      env: 'dev',
      channel,
      version,
      packDigest: sha256Digest(releaseId),
      packSize: 10 + version,
      kid: 'dev-k1',
      expiresAt: '2026-12-26T10:00:00.000Z',
      notice: `notice-${releaseId}`,
      ...(version > 1 && { previous: { releaseId: `r-${version - 1}`, version: version - 1, packDigest: sha256Digest(`r-${version - 1}`) } }),
    },
  });

describe('release.channels read model (real Postgres)', () => {
  let db: ThrowAwayDatabase;
  let ds: DataSource;
  let model: ChannelReadModel;

  beforeAll(async () => {
    db = await createThrowAwayDatabase('koa_release');
    ds = await openDataSource({ url: db.url, schema: RELEASE_SCHEMA, migrations: RELEASE_MIGRATIONS });
    model = new ChannelReadModel(ds);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('projects ReleaseActivated into the channel status', async () => {
    expect(await model.get('t1', 'dev', 'stable')).toBeUndefined();
    expect(await model.apply(activated('t1', 1, 'r-1'))).toBe(true);
    expect(await model.get('t1', 'dev', 'stable')).toEqual({
      tenant: 't1', env: 'dev', channel: 'stable', version: 1, releaseId: 'r-1', caseId: 'case-1', packDigest: sha256Digest('r-1'), packSize: 11,
      kid: 'dev-k1', notice: 'notice-r-1', expiresAt: '2026-12-26T10:00:00.000Z', activatedAt: '2026-11-26T10:00:00.000Z', previousReleaseId: null,
    });
  });

  it('only moves forward: a replayed or older activation does not move the channel back', async () => {
    expect(await model.apply(activated('t1', 2, 'r-2'))).toBe(true);
    expect(await model.apply(activated('t1', 1, 'r-1'))).toBe(false);
    expect(await model.apply(activated('t1', 2, 'r-2'))).toBe(false);
    expect(await model.get('t1', 'dev', 'stable')).toMatchObject({ version: 2, releaseId: 'r-2', previousReleaseId: 'r-1' });
  });

  it('truncate + replay (any order) rebuilds the same state', async () => {
    const live = await model.get('t1', 'dev', 'stable');
    await model.truncate();
    expect(await model.get('t1', 'dev', 'stable')).toBeUndefined();
    for (const e of [activated('t1', 2, 'r-2'), activated('t1', 1, 'r-1')]) await model.apply(e);
    expect(await model.get('t1', 'dev', 'stable')).toEqual(live);
  });

  it('refuses an invalid token instead of querying with it', async () => {
    await expect(model.get('t1', 'dev', 'sta*ble')).rejects.toMatchObject({ code: 'SUBJECT_TOKEN_INVALID' });
    await expect(model.get('t 1', 'dev', 'stable')).rejects.toMatchObject({ code: 'SUBJECT_TOKEN_INVALID' });
  });

  it('row-level security: a non-superuser session sees only the tenant set in koa.tenant', async () => {
    await model.apply(activated('t2', 1, 'r-x'));
    const role = uniqueName('koa_rel_rls').toLowerCase();
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`GRANT USAGE ON SCHEMA ${RELEASE_SCHEMA} TO ${role}; GRANT SELECT ON ${RELEASE_SCHEMA}.channels TO ${role}`);
      const url = new URL(db.url);
      url.username = role;
      const c = new Client({ connectionString: url.toString() });
      await c.connect();
      try {
        const all = await c.query(`SELECT tenant FROM ${RELEASE_SCHEMA}.channels`);
        expect(all.rows).toEqual([]);
        await c.query('BEGIN');
        await c.query(`SELECT set_config('koa.tenant', 't2', true)`);
        const t2 = await c.query(`SELECT tenant, release_id FROM ${RELEASE_SCHEMA}.channels`);
        await c.query('COMMIT');
        expect(t2.rows).toEqual([{ tenant: 't2', release_id: 'r-x' }]);
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
