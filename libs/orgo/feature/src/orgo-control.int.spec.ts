import 'reflect-metadata';
import { BuildFailed, PackCompiled, ReleaseActivated, ReleaseRefused, STREAMS, SnapshotSetSealed, canonicalDigest, createEvent, digestHex, sha256Digest, subjectOf, subjects, type AnyKoaEvent } from '@koa/contracts';
import { buildTaskIdFor, caseIdFor, commandForOutcome, decide, initialState, openCaseCommand, parseOperatorTrigger, releaseTaskIdFor, replay } from '@koa/orgo/domain';
import { Messaging } from '@koa/platform/messaging';
import { createServiceApp, type ServiceApp } from '@koa/platform/service';
import { PrivateNatsServer, createThrowAwayDatabase, eventually, freePort, uniqueName, type ThrowAwayDatabase } from '@koa/platform/testing';
import { ORGO_CONFIG_SCHEMA, ORGO_CONSUMERS, ORGO_DB_SCHEMA, ORGO_DURABLES, ORGO_ENTITIES, ORGO_MIGRATIONS, OrgoFeatureModule } from '@koa/orgo/feature';

const NOW = '2026-03-01T12:00:00.000Z';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON responses asserted with toMatchObject
type Json = any;
const json = async (res: Response): Promise<Json> => res.json();

describe('orgo-control (real NATS + Postgres, through the Nest app)', () => {
  let nats: PrivateNatsServer;
  let db: ThrowAwayDatabase;
  let service: ServiceApp;
  let client: Messaging;
  let base: string;
  const tenant = uniqueName('acme');
  const digests = [sha256Digest('doc-a'), sha256Digest('doc-b')].sort();
  const root = canonicalDigest({ digests });

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    db = await createThrowAwayDatabase('koa_orgo_feat');
    service = await createServiceApp(
      { name: 'orgo-control', schema: ORGO_CONFIG_SCHEMA, module: OrgoFeatureModule, consumers: ORGO_CONSUMERS, dbSchema: ORGO_DB_SCHEMA, entities: ORGO_ENTITIES, migrations: ORGO_MIGRATIONS, defaultHttpPort: 8082 },
      { env: { NATS_URL: nats.url, DATABASE_URL: db.url, HTTP_PORT: String(await freePort()), HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'silent' }, clock: { now: () => new Date(NOW) } },
    );
    base = await service.listen();
    client = await Messaging.connect({ url: nats.url, name: 'orgo-test' });
    // what ingest-gateway would have recorded: a sealed snapshot set
    await client.append([
      createEvent(SnapshotSetSealed, { id: 'seal-1', time: NOW, source: 'ingest-gateway', tenant, aggregateId: digestHex(root), actor: 'user:alice', data: { root, digests } }),
    ]);
  });

  afterAll(async () => {
    await client?.close();
    await service?.close();
    await nats?.dispose();
    await db?.drop();
  });

  const trigger = (key: string | undefined, body: Record<string, unknown>, actor = 'user:alice') =>
    fetch(`${base}/v1/tenants/${tenant}/cases`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', 'x-koa-actor': actor, 'user-agent': 'orgo-int-test', ...(key !== undefined && { 'idempotency-key': key }) },
    });
  const body = { snapshotSetRoot: root, env: 'dev', channel: 'stable', reason: 'weekly refresh' };
  const caseEvents = async (caseId: string): Promise<AnyKoaEvent[]> => (await client.readAggregate(tenant, 'case', caseId)).events;

  const pack = { digest: sha256Digest('pack-1'), size: 1234, mediaType: 'application/vnd.koa.pack.v1+tar' as const };
  const packCompiled = (caseId: string, buildId: string) =>
    createEvent(PackCompiled, {
      id: `${buildId}.compiled`, time: NOW, source: 'pipeline-worker', tenant, aggregateId: buildId, actor: 'service:pipeline-worker', correlationId: caseId,
      data: {
        buildId, caseId, taskId: buildTaskIdFor(caseId), pack, manifestDigest: sha256Digest('manifest'), evidenceDigest: sha256Digest('evidence'), provenanceDigest: sha256Digest('provenance'),
        provenance: { buildType: 'https://koa.dev/pipeline/v1', builder: { id: 'pipeline-worker', version: '1' }, pipelineVersion: '1', inputs: digests.map((digest) => ({ digest, mediaType: 'text/plain' })), snapshotSetRoot: root, parameters: {}, output: { digest: pack.digest, size: pack.size } },
      },
    });

  let caseId: string;

  it('trigger ⇒ 201, CaseOpened + TaskRequested(build) on case/<caseId> with who, why, from where', async () => {
    const res = await trigger('key-1', body);
    expect(res.status).toBe(201);
    const view = await json(res);
    caseId = caseIdFor(tenant, 'key-1');
    expect(view).toMatchObject({ caseId, tenant, status: 'open', phase: 'building', intent: { snapshotSetRoot: root, digests, env: 'dev', channel: 'stable' } });
    expect(res.headers.get('location')).toBe(`/v1/tenants/${tenant}/cases/${caseId}`);
    const events = await caseEvents(caseId);
    expect(events.map((e) => e.type)).toEqual(['io.koa.orgo.case.opened.v1', 'io.koa.orgo.task.requested.v1']);
    expect(events[0]).toMatchObject({
      actor: 'user:alice',
      reason: 'weekly refresh',
      correlationid: caseId,
      data: { trigger: { kind: 'operator', idempotencyKey: 'key-1', requestedBy: 'user:alice', receivedAt: NOW, origin: { via: 'http', userAgent: 'orgo-int-test' } } },
    });
    expect((events[0].data as { trigger: { origin: { address?: string } } }).trigger.origin.address).toMatch(/127\.0\.0\.1/);
    expect(events[1].data).toEqual({ caseId, taskId: buildTaskIdFor(caseId), params: { kind: 'build', snapshotSetRoot: root, digests } });
  });

  it('a retried trigger with the same key ⇒ 200, the same caseId, no new events', async () => {
    const res = await trigger('key-1', body);
    expect(res.status).toBe(200);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect((await json(res)).caseId).toBe(caseId);
    expect(await caseEvents(caseId)).toHaveLength(2);
  });

  it('the same key with a different body (or actor) ⇒ 409 IDEMPOTENCY_KEY_REUSED, no new events', async () => {
    const other = await trigger('key-1', { ...body, channel: 'beta' });
    expect(other.status).toBe(409);
    expect(await json(other)).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    const otherActor = await trigger('key-1', body, 'user:mallory');
    expect(otherActor.status).toBe(409);
    expect(await json(otherActor)).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await caseEvents(caseId)).toHaveLength(2);
  });

  it('concurrent triggers with one key ⇒ one 201, the rest 200, one Case with two events', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => trigger('key-race', { ...body, reason: 'race' })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(await caseEvents(caseIdFor(tenant, 'key-race'))).toHaveLength(2);
  });

  it('two concurrent DIFFERENT requests with one key ⇒ one 201, one 409 IDEMPOTENCY_KEY_REUSED, and the build task is the opener\'s', async () => {
    // the two requests name different sealed sets, so a build task taken from the other request would show
    const otherDigests = [sha256Digest('doc-c')];
    const otherRoot = canonicalDigest({ digests: otherDigests });
    await client.append([
      createEvent(SnapshotSetSealed, { id: 'seal-race', time: NOW, source: 'ingest-gateway', tenant, aggregateId: digestHex(otherRoot), actor: 'user:alice', data: { root: otherRoot, digests: otherDigests } }),
    ]);
    const bodies = [
      { ...body, reason: 'race a' },
      { ...body, reason: 'race b', snapshotSetRoot: otherRoot },
    ];
    for (let round = 0; round < 5; round++) {
      const k = `key-race-different-${round}`;
      const results = await Promise.all(bodies.map((b) => trigger(k, b)));
      expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
      const winner = results.findIndex((r) => r.status === 201);
      expect(await json(results[1 - winner])).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
      const events = await caseEvents(caseIdFor(tenant, k));
      expect(events.map((e) => e.type)).toEqual(['io.koa.orgo.case.opened.v1', 'io.koa.orgo.task.requested.v1']);
      expect(events[0]).toMatchObject({ reason: bodies[winner].reason, data: { intent: { snapshotSetRoot: bodies[winner].snapshotSetRoot } } });
      expect(events[1]).toMatchObject({ reason: bodies[winner].reason, data: { params: { kind: 'build', snapshotSetRoot: bodies[winner].snapshotSetRoot } } });
    }
  });

  it('a key already used is answered IDEMPOTENCY_KEY_REUSED even when the other request names an unsealed root (not SNAPSHOT_NOT_FOUND)', async () => {
    const res = await trigger('key-1', { ...body, snapshotSetRoot: sha256Digest('never sealed') });
    expect(res.status).toBe(409);
    expect(await json(res)).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await caseEvents(caseId)).toHaveLength(2);
  });

  it('a retry completes a Case whose first attempt appended only CaseOpened', async () => {
    const t = parseOperatorTrigger({ tenant, idempotencyKey: 'key-half', actor: 'user:alice', body: { ...body, reason: 'half' }, receivedAt: NOW, origin: {} });
    const [opened] = decide(openCaseCommand(t, digests), initialState());
    await client.append([opened], { expectedLastSubjectSequence: 0 });
    const res = await trigger('key-half', { ...body, reason: 'half' });
    expect(res.status).toBe(200);
    expect((await caseEvents(caseIdFor(tenant, 'key-half'))).map((e) => e.type)).toEqual(['io.koa.orgo.case.opened.v1', 'io.koa.orgo.task.requested.v1']);
    expect(await json(res)).toMatchObject({ phase: 'building', tasks: [{ kind: 'build', status: 'requested' }] });
  });

  it('a retry after the duplicate window (the opening append conflicts instead of de-duplicating) ⇒ 200 and the half-open Case is completed', async () => {
    const t = parseOperatorTrigger({ tenant, idempotencyKey: 'key-window', actor: 'user:alice', body: { ...body, reason: 'window' }, receivedAt: NOW, origin: {} });
    const [opened] = decide(openCaseCommand(t, digests), initialState());
    // stored under another Nats-Msg-Id: the service's CaseOpened is not a duplicate of it, its `expected 0` guard fails
    await client.publish(subjectOf(opened), new TextEncoder().encode(JSON.stringify(opened)), { msgId: 'stored-long-ago', expectedLastSubjectSequence: 0 });
    const res = await trigger('key-window', { ...body, reason: 'window' });
    expect(res.status).toBe(200);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect((await caseEvents(caseIdFor(tenant, 'key-window'))).map((e) => e.type)).toEqual(['io.koa.orgo.case.opened.v1', 'io.koa.orgo.task.requested.v1']);
    const other = await trigger('key-window', { ...body, reason: 'not the same' });
    expect(other.status).toBe(409);
    expect(await json(other)).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await caseEvents(caseIdFor(tenant, 'key-window'))).toHaveLength(2);
  });

  it('a body that is not JSON ⇒ 400 problem+json', async () => {
    const res = await fetch(`${base}/v1/tenants/${tenant}/cases`, { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json', 'x-koa-actor': 'user:alice', 'idempotency-key': 'k-json' } });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await json(res)).toMatchObject({ code: 'REQUEST_INVALID' });
    expect(await caseEvents(caseIdFor(tenant, 'k-json'))).toEqual([]);
  });

  it.each([
    ['no Idempotency-Key', undefined, body, 400, 'TRIGGER_INVALID', 'Idempotency-Key'],
    ['no reason', 'key-x', { ...body, reason: '' }, 400, 'TRIGGER_INVALID', 'reason'],
    ['an unsealed root', 'key-y', { ...body, snapshotSetRoot: sha256Digest('nope') }, 404, 'SNAPSHOT_NOT_FOUND', 'snapshot set'],
  ])('refuses %s with its code and opens nothing', async (_name, key, b, status, code, mentions) => {
    const res = await trigger(key, b);
    expect(res.status).toBe(status);
    const problem = await json(res);
    expect(problem).toMatchObject({ code });
    expect(problem.detail).toContain(mentions);
    if (key) expect(await caseEvents(caseIdFor(tenant, key))).toEqual([]);
  });

  it('PackCompiled ⇒ TaskCompleted(build) + TaskRequested(release) with the pack, evidence, provenance and the intent', async () => {
    await client.append([packCompiled(caseId, 'b-1')]);
    await eventually(async () => expect(await caseEvents(caseId)).toHaveLength(4), { what: 'release task requested' });
    const [, , done, release] = await caseEvents(caseId);
    expect(done).toMatchObject({ type: 'io.koa.orgo.task.completed.v1', causationid: 'b-1.compiled', correlationid: caseId, actor: 'service:orgo-control', data: { kind: 'build', outcome: 'succeeded', ref: 'b-1' } });
    expect(release).toMatchObject({
      type: 'io.koa.orgo.task.requested.v1',
      data: {
        taskId: releaseTaskIdFor(caseId),
        params: { kind: 'release', buildId: 'b-1', env: 'dev', channel: 'stable', pack: { digest: pack.digest, size: pack.size }, evidenceDigest: sha256Digest('evidence'), provenanceDigest: sha256Digest('provenance') },
      },
    });
    const view = await json(await fetch(`${base}/v1/tenants/${tenant}/cases/${caseId}`));
    expect(view).toMatchObject({ status: 'open', phase: 'releasing' });
  });

  it('ReleaseActivated ⇒ the Case closes succeeded; the read model lists it', async () => {
    await client.append([
      createEvent(ReleaseActivated, {
        id: 'r-1.activated', time: NOW, source: 'konnaxion-release', tenant, aggregateId: 'r-1', actor: 'service:konnaxion-release', correlationId: caseId,
        data: { releaseId: 'r-1', caseId, taskId: releaseTaskIdFor(caseId), env: 'dev', channel: 'stable', version: 1, packDigest: pack.digest, packSize: pack.size, kid: 'dev-1', expiresAt: '2026-04-01T00:00:00.000Z', notice: 'a.b.c' },
      }),
    ]);
    await eventually(async () => expect(await caseEvents(caseId)).toHaveLength(6), { what: 'case closed' });
    expect((await caseEvents(caseId))[5]).toMatchObject({ type: 'io.koa.orgo.case.closed.v1', data: { caseId, outcome: 'succeeded' } });
    await eventually(async () => {
      const list = await json(await fetch(`${base}/v1/tenants/${tenant}/cases?status=closed`));
      expect(list.items.map((c: { caseId: string }) => c.caseId)).toEqual([caseId]);
      expect(list.items[0]).toMatchObject({ phase: 'succeeded', outcome: 'succeeded' });
    }, { what: 'read model caught up' });
  });

  it('BuildFailed ⇒ TaskCompleted(failed) + CaseClosed(failed) with the code', async () => {
    const res = await trigger('key-2', { ...body, reason: 'second run' });
    expect(res.status).toBe(201);
    const failingCase = caseIdFor(tenant, 'key-2');
    await client.append([
      createEvent(BuildFailed, {
        id: 'b-2.failed', time: NOW, source: 'pipeline-worker', tenant, aggregateId: 'b-2', actor: 'service:pipeline-worker',
        data: { buildId: 'b-2', caseId: failingCase, taskId: buildTaskIdFor(failingCase), stage: 'validate', code: 'VALIDATION_FAILED', message: '3 rules failed' },
      }),
    ]);
    await eventually(async () => expect(await caseEvents(failingCase)).toHaveLength(4), { what: 'case closed failed' });
    const [, , done, closed] = await caseEvents(failingCase);
    expect(done.data).toMatchObject({ kind: 'build', outcome: 'failed', code: 'VALIDATION_FAILED' });
    expect(closed.data).toEqual({ caseId: failingCase, outcome: 'failed', code: 'VALIDATION_FAILED', message: '3 rules failed' });
    expect(await json(await fetch(`${base}/v1/tenants/${tenant}/cases/${failingCase}`))).toMatchObject({ status: 'closed', phase: 'failed', code: 'VALIDATION_FAILED' });
  });

  it('ReleaseRefused ⇒ CaseClosed(failed) with the refusal code', async () => {
    await trigger('key-3', { ...body, reason: 'third run' });
    const c3 = caseIdFor(tenant, 'key-3');
    await client.append([packCompiled(c3, 'b-3')]);
    await eventually(async () => expect(await caseEvents(c3)).toHaveLength(4), { what: 'release requested' });
    await client.append([
      createEvent(ReleaseRefused, {
        id: 'r-3.refused', time: NOW, source: 'konnaxion-release', tenant, aggregateId: 'r-3', actor: 'service:konnaxion-release',
        data: { releaseId: 'r-3', caseId: c3, taskId: releaseTaskIdFor(c3), env: 'dev', channel: 'stable', code: 'RELEASE_PROVENANCE_INVALID', message: 'untrusted builder' },
      }),
    ]);
    await eventually(async () => expect(await caseEvents(c3)).toHaveLength(6), { what: 'case closed after refusal' });
    expect((await caseEvents(c3))[5].data).toEqual({ caseId: c3, outcome: 'failed', code: 'RELEASE_PROVENANCE_INVALID', message: 'untrusted builder' });
  });

  it('the same outcome delivered again (new Nats-Msg-Id, same event) appends nothing', async () => {
    const again = packCompiled(caseId, 'b-1');
    await client.publish(subjectOf(again), new TextEncoder().encode(JSON.stringify(again)), { msgId: 'redelivered-b-1' });
    // a later marker event proves the consumer went past the duplicate
    await trigger('key-marker', { ...body, reason: 'marker' });
    await eventually(async () => {
      const list = await json(await fetch(`${base}/v1/tenants/${tenant}/cases?limit=500`));
      expect(list.items.map((c: { caseId: string }) => c.caseId)).toContain(caseIdFor(tenant, 'key-marker'));
    }, { what: 'consumer past the duplicate' });
    expect(await caseEvents(caseId)).toHaveLength(6);
    // recognised as already processed (inbox by source#id), not refused by the closed Case: nothing dead-lettered
    expect(await client.lastMessage(STREAMS.deadLetters.name, subjects.deadLetter('orgo-control'))).toBeUndefined();
  });

  it('an outcome whose earlier decision was only half appended is completed, not repeated', async () => {
    await trigger('key-half-outcome', { ...body, reason: 'half outcome' });
    const c = caseIdFor(tenant, 'key-half-outcome');
    const compiled = packCompiled(c, 'b-half');
    const { events, lastSequence } = await client.readAggregate(tenant, 'case', c);
    const [firstHalf] = decide(commandForOutcome(compiled, NOW), replay(events));
    await client.append([firstHalf], { expectedLastSubjectSequence: lastSequence });
    await client.append([compiled]);
    await eventually(async () => expect(await caseEvents(c)).toHaveLength(4), { what: 'missing half appended' });
    const types = (await caseEvents(c)).map((e) => `${e.type}:${(e.data as { params?: { kind: string } }).params?.kind ?? ''}`);
    expect(types).toEqual(['io.koa.orgo.case.opened.v1:', 'io.koa.orgo.task.requested.v1:build', 'io.koa.orgo.task.completed.v1:', 'io.koa.orgo.task.requested.v1:release']);
  });

  it('an outcome for a Case that does not exist is dead-lettered CASE_NOT_FOUND; the consumer goes on', async () => {
    // build outcomes are read by their own durable (its dead-letter subject is koa.dlq.<durable>)
    const ghost = 'c-0000000000000000000000000000000000000000';
    const { seq } = (await client.append([
      createEvent(BuildFailed, {
        id: 'ghost.failed', time: NOW, source: 'pipeline-worker', tenant, aggregateId: 'b-ghost', actor: 'service:pipeline-worker',
        data: { buildId: 'b-ghost', caseId: ghost, taskId: buildTaskIdFor(ghost), stage: 'extract', code: 'EXTRACT_PARSE_FAILED', message: 'x' },
      }),
    ]))[0];
    const dlq = await eventually(async () => {
      const m = await client.lastMessage(STREAMS.deadLetters.name, subjects.deadLetter(ORGO_DURABLES.builds));
      expect(m?.headers['Koa-Original-Seq']).toBe(String(seq));
      return m;
    }, { what: 'dead-letter record' });
    expect(dlq?.headers['Koa-Refusal-Code']).toBe('CASE_NOT_FOUND');
    expect(await caseEvents(ghost)).toEqual([]);
    // later events are still processed
    await trigger('key-4', { ...body, reason: 'after the ghost' });
    const c4 = caseIdFor(tenant, 'key-4');
    await eventually(async () => {
      const view = await json(await fetch(`${base}/v1/tenants/${tenant}/cases?status=open`));
      expect(view.items.map((c: { caseId: string }) => c.caseId)).toContain(c4);
    }, { what: 'read model after the dead letter' });
    // ...and so are later outcomes on the durable that dead-lettered the ghost's
    await client.append([packCompiled(c4, 'b-4')]);
    await eventually(async () => expect(await caseEvents(c4)).toHaveLength(4), { what: 'outcome after the dead letter' });
  });

  it('GET an unknown case ⇒ 404 CASE_NOT_FOUND', async () => {
    const res = await fetch(`${base}/v1/tenants/${tenant}/cases/c-unknown`);
    expect(res.status).toBe(404);
    expect(await json(res)).toMatchObject({ code: 'CASE_NOT_FOUND' });
  });

  it("an outcome another replica already recorded is not applied twice (this process' remembered Case is stale)", async () => {
    await trigger('key-replica', { ...body, reason: 'replica' });
    const c = caseIdFor(tenant, 'key-replica');
    await client.append([packCompiled(c, 'b-replica')]);
    await eventually(async () => expect(await caseEvents(c)).toHaveLength(4), { what: 'release requested' });
    const activated = createEvent(ReleaseActivated, {
      id: 'r-replica.activated', time: NOW, source: 'konnaxion-release', tenant, aggregateId: 'r-replica', actor: 'service:konnaxion-release', correlationId: c,
      data: { releaseId: 'r-replica', caseId: c, taskId: releaseTaskIdFor(c), env: 'dev', channel: 'stable', version: 9, packDigest: pack.digest, packSize: pack.size, kid: 'dev-1', expiresAt: '2026-04-01T00:00:00.000Z', notice: 'a.b.c' },
    });
    // another replica records the activation first, straight on the Case (orgo-control here last wrote it before that)
    const { events, lastSequence } = await client.readAggregate(tenant, 'case', c);
    await client.append(decide(commandForOutcome(activated, NOW), replay(events)), { expectedLastSubjectSequence: lastSequence });
    await client.append([activated]);
    // a later outcome on the same durable has taken effect ⇒ the one before it was handled
    await trigger('key-after-replica', { ...body, reason: 'after' });
    const after = caseIdFor(tenant, 'key-after-replica');
    await client.append([packCompiled(after, 'b-after-replica')]);
    await eventually(async () => expect(await caseEvents(after)).toHaveLength(4), { what: 'later outcome applied' });
    await client.append([
      createEvent(ReleaseActivated, {
        id: 'r-after-replica.activated', time: NOW, source: 'konnaxion-release', tenant, aggregateId: 'r-after-replica', actor: 'service:konnaxion-release', correlationId: after,
        data: { releaseId: 'r-after-replica', caseId: after, taskId: releaseTaskIdFor(after), env: 'dev', channel: 'stable', version: 10, packDigest: pack.digest, packSize: pack.size, kid: 'dev-1', expiresAt: '2026-04-01T00:00:00.000Z', notice: 'a.b.c' },
      }),
    ]);
    await eventually(async () => expect(await caseEvents(after)).toHaveLength(6), { what: 'later release outcome applied' });
    const types = (await caseEvents(c)).map((e) => e.type);
    expect(types).toEqual(['io.koa.orgo.case.opened.v1', 'io.koa.orgo.task.requested.v1', 'io.koa.orgo.task.completed.v1', 'io.koa.orgo.task.requested.v1', 'io.koa.orgo.task.completed.v1', 'io.koa.orgo.case.closed.v1']);
  });
});
