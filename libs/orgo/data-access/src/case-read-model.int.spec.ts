import { BuildFailed, canonicalDigest, createEvent, sha256Digest } from '@koa/contracts';
import { caseIdFor, commandForOutcome, decide, initialState, openCaseCommand, parseOperatorTrigger, replay, caseView, buildTaskIdFor, type CaseEvent } from '@koa/orgo/domain';
import { openDataSource, type DataSource } from '@koa/platform/persistence';
import { createThrowAwayDatabase, type ThrowAwayDatabase } from '@koa/platform/testing';
import { CaseReadModel, ORGO_MIGRATIONS, ORGO_SCHEMA } from '@koa/orgo/data-access';

const digests = [sha256Digest('x')];
const root = canonicalDigest({ digests });
const opened = (tenant: string, key: string, minute: number) =>
  decide(
    openCaseCommand(
      parseOperatorTrigger({ tenant, idempotencyKey: key, actor: 'user:alice', body: { snapshotSetRoot: root, env: 'dev', channel: 'stable', reason: 'r' }, receivedAt: `2026-03-01T10:0${minute}:00.000Z`, origin: {} }),
      digests,
    ),
    initialState(),
  );

describe('orgo.cases read model (real Postgres)', () => {
  let db: ThrowAwayDatabase;
  let ds: DataSource;
  let model: CaseReadModel;

  beforeAll(async () => {
    db = await createThrowAwayDatabase('koa_orgo');
    ds = await openDataSource({ url: db.url, schema: ORGO_SCHEMA, migrations: ORGO_MIGRATIONS });
    model = new CaseReadModel(ds);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  const caseId = caseIdFor('t1', 'k1');
  let history: CaseEvent[] = [];

  it('folds Case events with the domain evolve; a replayed event is skipped', async () => {
    history = opened('t1', 'k1', 1);
    for (const e of history) expect(await model.apply(e)).toBe(true);
    expect(await model.apply(history[0])).toBe(false);
    expect(await model.get('t1', caseId)).toEqual(caseView(replay(history)));
    expect(await model.get('t1', caseId)).toMatchObject({ status: 'open', phase: 'building' });
    expect(await model.get('t2', caseId)).toBeUndefined();
  });

  it('a closed case shows its outcome and code; truncate + replay rebuilds the same view', async () => {
    const failed = createEvent(BuildFailed, {
      id: 'bf-1', time: '2026-03-01T10:05:00.000Z', source: 'pipeline-worker', tenant: 't1', aggregateId: 'b1', actor: 'service:pipeline-worker',
      data: { buildId: 'b1', caseId, taskId: buildTaskIdFor(caseId), stage: 'validate', code: 'VALIDATION_FAILED', message: 'rule x failed' },
    });
    const closing = decide(commandForOutcome(failed, '2026-03-01T10:06:00.000Z'), replay(history));
    for (const e of closing) await model.apply(e);
    history = [...history, ...closing];
    const live = await model.get('t1', caseId);
    expect(live).toMatchObject({ status: 'closed', phase: 'failed', outcome: 'failed', code: 'VALIDATION_FAILED' });
    await model.truncate();
    for (const e of history) await model.apply(e);
    expect(await model.get('t1', caseId)).toEqual(live);
  });

  it('lists newest first and by status', async () => {
    for (const e of opened('t1', 'k2', 3)) await model.apply(e);
    expect((await model.list('t1')).map((c) => c.caseId)).toEqual([caseIdFor('t1', 'k2'), caseId]);
    expect((await model.list('t1', { status: 'open' })).map((c) => c.caseId)).toEqual([caseIdFor('t1', 'k2')]);
    expect((await model.list('t1', { status: 'closed' })).map((c) => c.caseId)).toEqual([caseId]);
    await expect(model.list('t1', { limit: 1000 })).rejects.toMatchObject({ code: 'REQUEST_INVALID' });
    await expect(model.get('t1', 'c*')).rejects.toMatchObject({ code: 'SUBJECT_TOKEN_INVALID' });
  });
});
