import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import {
  BuildFailed,
  BuildStarted,
  OBJECT_STORES,
  PackCompiled,
  SnapshotCaptured,
  StageCompleted,
  StageFailed,
  TaskRequested,
  ValidationRecorded,
  canonicalDigest,
  snapshotSetRootOf,
  createEvent,
  digestHex,
  objectNameFor,
  sha256Digest,
  type AnyKoaEvent,
  type EventOf,
} from '@koa/contracts';
import { decodePack } from '@koa/pack-format';
import { Messaging } from '@koa/platform/messaging';
import { createServiceApp, type ServiceApp } from '@koa/platform/service';
import { PrivateNatsServer, createThrowAwayDatabase, eventually, freePort, uniqueName, type ThrowAwayDatabase } from '@koa/platform/testing';
import { buildEventId, buildIdFor } from './ids';
import { PIPELINE_CONFIG_SCHEMA, PIPELINE_CONSUMERS, PIPELINE_DB_SCHEMA, PIPELINE_ENTITIES, PIPELINE_MIGRATIONS, PipelineFeatureModule } from './pipeline-feature.module';
import { PipelineWorker } from './pipeline-worker';

const SAMPLES = resolve(__dirname, '../../../../samples');
const MEDIA: Record<string, string> = { '.json': 'application/json', '.ndjson': 'application/x-ndjson', '.md': 'text/markdown', '.txt': 'text/plain' };
const TENANT = 'acme';
const T0 = '2026-01-01T00:00:00.000Z';
const frozenClock = { now: () => new Date(T0) };

/** The build aggregate's events, in order. */
const buildEvents = async (m: Messaging, buildId: string): Promise<AnyKoaEvent[]> => (await m.readAggregate(TENANT, 'build', buildId)).events;
/** Waits until the build has ended (PackCompiled or BuildFailed), then returns its events. */
const waitForEnd = (m: Messaging, buildId: string): Promise<AnyKoaEvent[]> =>
  eventually(
    async () => {
      const es = await buildEvents(m, buildId);
      if (!es.some((e) => e.type === PackCompiled.type || e.type === BuildFailed.type)) throw new Error(`build ${buildId} has ${es.length} events and no end yet`);
      return es;
    },
    { timeoutMs: 30_000, what: `the end of build ${buildId}` },
  );
const packsStored = async (m: Messaging): Promise<number> => (await m.jsm.streams.info(`OBJ_${OBJECT_STORES.packs.bucket}`)).state.messages;

describe('pipeline-worker (real nats-server, real Postgres inbox, real JetStream transport)', () => {
  let nats: PrivateNatsServer;
  let db: ThrowAwayDatabase;
  let service: ServiceApp;
  let m: Messaging;
  let n = 0;

  /** Stores the files of samples/<set> as snapshots the way ingest-gateway does (blob + SnapshotCaptured). */
  async function ingest(set: string): Promise<string[]> {
    const store = await m.blobs(OBJECT_STORES.snapshots.bucket);
    const digests: string[] = [];
    for (const name of readdirSync(join(SAMPLES, set)).filter((f) => MEDIA[extname(f)])) {
      const bytes = new Uint8Array(readFileSync(join(SAMPLES, set, name)));
      const digest = sha256Digest(bytes);
      await store.put(objectNameFor(TENANT, digest), bytes);
      await m.append([
        createEvent(SnapshotCaptured, {
          id: `snap-${digestHex(digest).slice(0, 32)}`,
          time: T0,
          source: 'ingest-gateway',
          tenant: TENANT,
          aggregateId: digestHex(digest),
          actor: 'service:ingest-gateway',
          data: { digest, size: bytes.length, mediaType: MEDIA[extname(name)], source: 'samples', objectName: objectNameFor(TENANT, digest), provenance: { adapter: { name: 'test', version: '1' }, sourceRef: `samples/${set}/${name}`, capturedAt: T0 } },
        }),
      ]);
      digests.push(digest);
    }
    return digests.sort();
  }

  function buildTask(digests: string[], taskId = uniqueName('task').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 48)): EventOf<typeof TaskRequested> {
    const caseId = `case-${++n}`;
    return createEvent(TaskRequested, {
      id: uniqueName('evt').replace(/[^A-Za-z0-9_.:-]/g, '_'),
      time: T0,
      source: 'orgo-control',
      tenant: TENANT,
      aggregateId: caseId,
      actor: 'service:orgo-control',
      correlationId: caseId,
      data: { caseId, taskId, params: { kind: 'build', snapshotSetRoot: snapshotSetRootOf(digests), digests } },
    });
  }

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    db = await createThrowAwayDatabase('koa_pipeline');
    service = await createServiceApp(
      { name: 'pipeline-worker', schema: PIPELINE_CONFIG_SCHEMA, module: PipelineFeatureModule, consumers: PIPELINE_CONSUMERS, dbSchema: PIPELINE_DB_SCHEMA, entities: PIPELINE_ENTITIES, migrations: PIPELINE_MIGRATIONS, defaultHttpPort: 8083 },
      { env: { NATS_URL: nats.url, DATABASE_URL: db.url, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(await freePort()), LOG_LEVEL: 'warn', SERVICE_INSTANCE: 'pw-test' }, clock: frozenClock },
    );
    await service.listen();
    m = service.messaging;
  });

  afterAll(async () => {
    await service?.close();
    await db?.drop();
    await nats?.dispose();
  });

  it('a bad snapshot set ends in BuildFailed VALIDATION_FAILED at validate, with evidence, and no pack stored', async () => {
    const digests = await ingest('bad');
    const task = buildTask(digests);
    await m.append([task]);
    const buildId = buildIdFor(task.data.taskId);
    const events = await waitForEnd(m, buildId);

    expect(events.map((e) => e.type)).toEqual([BuildStarted.type, StageCompleted.type, StageCompleted.type, ValidationRecorded.type, StageFailed.type, BuildFailed.type]);
    const failed = events[5] as EventOf<typeof BuildFailed>;
    expect(failed.data).toMatchObject({ buildId, caseId: task.data.caseId, taskId: task.data.taskId, stage: 'validate', code: 'VALIDATION_FAILED' });
    const evidence = events[3] as EventOf<typeof ValidationRecorded>;
    expect(evidence.data.passed).toBe(false);
    expect(evidence.data.results.filter((r) => !r.passed).map((r) => r.rule).sort()).toEqual(['id-format', 'text-or-attributes-present', 'title-present', 'type-known']);
    expect(evidence.data.results[0].passed).toBe(false); // failures first
    expect(await packsStored(m)).toBe(0);
  });

  it('a good snapshot set: the full event sequence on the build subject, the pack in koa-packs decodes and matches PackCompiled', async () => {
    const digests = await ingest('good');
    const task = buildTask(digests);
    await m.append([task]);
    const buildId = buildIdFor(task.data.taskId);
    const events = await waitForEnd(m, buildId);

    expect(events.map((e) => e.type)).toEqual([
      BuildStarted.type,
      StageCompleted.type,
      StageCompleted.type,
      ValidationRecorded.type,
      StageCompleted.type,
      StageCompleted.type,
      PackCompiled.type,
    ]);
    expect(events.map((e) => (e.type === StageCompleted.type ? (e as EventOf<typeof StageCompleted>).data.stage : '-'))).toEqual(['-', 'extract', 'resolve', '-', 'validate', 'compile', '-']);
    for (const e of events) {
      expect(e).toMatchObject({ tenantid: TENANT, correlationid: task.data.caseId, causationid: task.id, actor: 'service:pipeline-worker', source: '/koa/pipeline-worker', time: T0 });
    }
    expect(events[0].id).toBe(buildEventId(TENANT, buildId, 'started'));

    const compiled = events[6] as EventOf<typeof PackCompiled>;
    const bytes = await (await m.blobs(OBJECT_STORES.packs.bucket)).get(objectNameFor(TENANT, compiled.data.pack.digest));
    expect(bytes).toBeDefined();
    const pack = decodePack(bytes as Uint8Array);
    expect(pack.digest).toBe(compiled.data.pack.digest);
    expect(pack.size).toBe(compiled.data.pack.size);
    expect(pack.manifestDigest).toBe(compiled.data.manifestDigest);
    expect(pack.evidenceDigest).toBe(compiled.data.evidenceDigest);
    expect((events[3] as EventOf<typeof ValidationRecorded>).data.evidenceDigest).toBe(compiled.data.evidenceDigest);
    expect(pack.manifest.counts.entities).toBe(21);
    expect(pack.manifest.inputs.map((i) => i.digest)).toEqual(digests);
    expect(compiled.data.provenance.output).toEqual({ digest: pack.digest, size: pack.size });
    expect(compiled.data.provenance.builder).toEqual({ id: 'https://koa.dev/builders/pipeline-worker', version: '1.0.0' });
    expect(compiled.data.provenanceDigest).toBe(canonicalDigest(compiled.data.provenance));
    expect(await packsStored(m)).toBeGreaterThan(0);

    // a redelivered / re-requested task for the same taskId is idempotent: nothing new is written
    const again = { ...buildTask(digests, task.data.taskId) };
    await m.append([again]);
    const worker = service.app.get(PipelineWorker);
    await expect(worker.handleTask(again)).resolves.toEqual({ status: 'already-finished', buildId, outcome: 'compiled' });
    expect((await buildEvents(m, buildId)).length).toBe(7);
  });

  it('a crash after BuildStarted: the next attempt continues the same build without duplicating events', async () => {
    const digests = await ingest('good');
    const task = buildTask(digests);
    const buildId = buildIdFor(task.data.taskId);
    const worker = service.app.get(PipelineWorker);
    // the previous attempt wrote BuildStarted (same deterministic id) and died
    await m.append(
      [createEvent(BuildStarted, { id: buildEventId(TENANT, buildId, 'started'), time: T0, source: 'pipeline-worker', tenant: TENANT, aggregateId: buildId, actor: 'service:pipeline-worker', correlationId: task.data.caseId, causationId: task.id, data: { buildId, caseId: task.data.caseId, taskId: task.data.taskId, snapshotSetRoot: snapshotSetRootOf(digests), inputs: digests, pipelineVersion: '1.0.0' } })],
      { expectedLastSubjectSequence: 0 },
    );
    const outcome = await worker.handleTask(task);
    expect(outcome).toMatchObject({ status: 'compiled', buildId });
    const types = (await buildEvents(m, buildId)).map((e) => e.type);
    expect(types.filter((t) => t === BuildStarted.type)).toHaveLength(1);
    expect(types).toHaveLength(7);
  });

  it('a snapshot missing from the store ⇒ StageFailed + BuildFailed BUILD_INPUT_MISSING at extract', async () => {
    const digests = await ingest('good');
    const ghost = sha256Digest('never ingested');
    const task = buildTask([...digests, ghost].sort());
    const outcome = await service.app.get(PipelineWorker).handleTask(task);
    expect(outcome).toMatchObject({ status: 'failed', stage: 'extract', code: 'BUILD_INPUT_MISSING' });
    const events = await buildEvents(m, outcome.status === 'failed' ? outcome.buildId : '');
    expect(events.map((e) => e.type)).toEqual([BuildStarted.type, StageFailed.type, BuildFailed.type]);
    expect((events[2] as EventOf<typeof BuildFailed>).data.message).toContain(ghost);
  });

  it('bytes in the store that do not match the digest ⇒ BUILD_INPUT_MISSING', async () => {
    const bytes = new TextEncoder().encode('{"id":"x1","type":"faq","title":"t","text":"x"}');
    const digest = sha256Digest(bytes);
    await m.append([createEvent(SnapshotCaptured, { id: `snap-${digestHex(digest).slice(0, 32)}`, time: T0, source: 'ingest-gateway', tenant: TENANT, aggregateId: digestHex(digest), actor: 'service:ingest-gateway', data: { digest, size: bytes.length, mediaType: 'application/json', source: 'samples', objectName: objectNameFor(TENANT, digest), provenance: { adapter: { name: 'test', version: '1' }, sourceRef: 'tampered', capturedAt: T0 } } })]);
    await (await m.blobs(OBJECT_STORES.snapshots.bucket)).put(objectNameFor(TENANT, digest), new TextEncoder().encode('tampered'));
    const outcome = await service.app.get(PipelineWorker).handleTask(buildTask([digest]));
    expect(outcome).toMatchObject({ status: 'failed', stage: 'extract', code: 'BUILD_INPUT_MISSING' });
  });

  it('task digests that do not hash to the pinned snapshot-set root ⇒ BuildFailed SNAPSHOT_SET_MISMATCH, nothing read or compiled', async () => {
    const digests = await ingest('good');
    const pinned = buildTask(digests.slice(1));
    // same pinned root, one more input smuggled in
    const task = { ...pinned, data: { ...pinned.data, params: { ...pinned.data.params, digests } } } as typeof pinned;
    const outcome = await service.app.get(PipelineWorker).handleTask(task);
    expect(outcome).toMatchObject({ status: 'failed', stage: 'extract', code: 'SNAPSHOT_SET_MISMATCH' });
    const events = await buildEvents(m, outcome.status === 'failed' ? outcome.buildId : '');
    expect(events.map((e) => e.type)).toEqual([BuildStarted.type, StageFailed.type, BuildFailed.type]);
  });

  it('release tasks are not builds: ignored', async () => {
    const caseId = 'case-release';
    const task = createEvent(TaskRequested, {
      id: uniqueName('evt').replace(/[^A-Za-z0-9_.:-]/g, '_'),
      time: T0,
      source: 'orgo-control',
      tenant: TENANT,
      aggregateId: caseId,
      actor: 'service:orgo-control',
      data: { caseId, taskId: 'rel-1', params: { kind: 'release', buildId: 'b-x', env: 'dev', channel: 'stable', pack: { digest: sha256Digest('p'), size: 1 }, evidenceDigest: sha256Digest('e'), provenanceDigest: sha256Digest('v') } },
    });
    await expect(service.app.get(PipelineWorker).handleTask(task)).resolves.toMatchObject({ status: 'ignored' });
    expect(await buildEvents(m, buildIdFor('rel-1'))).toEqual([]);
  });
});
