import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChannelAdvanced,
  OBJECT_STORES,
  ReleaseVerified,
  STREAMS,
  TaskRequested,
  channelAggregateId,
  createEvent,
  objectNameFor,
  sha256Digest,
  subjects,
  type AnyKoaEvent,
  type EventByType,
  type KoaEvent,
} from '@koa/contracts';
import type { Messaging } from '@koa/platform/messaging';
import { createServiceApp, type ServiceApp } from '@koa/platform/service';
import { PrivateNatsServer, createThrowAwayDatabase, eventually, freePort, type ThrowAwayDatabase } from '@koa/platform/testing';
import { loadTrustRoot, verifyReleaseNotice } from '@koa/release/verify';
import { packWithMalformedEntityLine, releaseScenario, validPackBytes, type Scenario, type ScenarioOptions } from '@koa/release/domain/testing';
import { RELEASE_CONFIG_SCHEMA, type ReleaseConfig } from './config';
import { ReleaseFeatureModule, RELEASE_CONSUMERS, RELEASE_DB_SCHEMA, RELEASE_ENTITIES, RELEASE_MIGRATIONS } from './release-feature.module';
import { ReleaseProcess, releaseEventId } from './release-process';

type Activated = EventByType<'io.koa.release.release.activated.v1'>;
const TENANT = 'acme';
const T0 = Date.parse('2026-11-26T10:00:00.000Z');

describe('konnaxion-release (private nats-server + throw-away Postgres)', () => {
  let nats: PrivateNatsServer;
  let db: ThrowAwayDatabase;
  let keysDir: string;
  let service: ServiceApp<ReleaseConfig>;
  let base: string;
  let m: Messaging;
  let nowMs = T0;
  const clock = { now: () => new Date(nowMs) };

  beforeAll(async () => {
    [nats, db] = await Promise.all([PrivateNatsServer.start(), createThrowAwayDatabase('koa_release')]);
    keysDir = mkdtempSync(join(tmpdir(), 'koa-release-keys-'));
    const port = await freePort();
    service = await createServiceApp(
      {
        name: 'konnaxion-release',
        schema: RELEASE_CONFIG_SCHEMA,
        module: ReleaseFeatureModule,
        consumers: RELEASE_CONSUMERS,
        dbSchema: RELEASE_DB_SCHEMA,
        entities: RELEASE_ENTITIES,
        migrations: RELEASE_MIGRATIONS,
        defaultHttpPort: port,
      },
      { env: { NATS_URL: nats.url, DATABASE_URL: db.url, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(port), KEYS_DIR: keysDir, LOG_LEVEL: 'silent' }, clock },
    );
    base = await service.listen();
    m = service.messaging;
  });

  afterAll(async () => {
    await service?.close();
    await nats?.dispose();
    await db?.drop();
    if (keysDir) rmSync(keysDir, { recursive: true, force: true });
  });

  // ---- helpers -------------------------------------------------------------------------------
  const scenario = (o: ScenarioOptions & { taskId: string }): Scenario =>
    releaseScenario({ tenant: TENANT, caseId: `c-${o.taskId}`, buildId: `b-${o.taskId}`, time: new Date(nowMs).toISOString(), ...o });

  /** Stores the pack, appends the build, then the Case (whose release task triggers the service). */
  async function seed(s: Scenario, o: { storedBytes?: Uint8Array; caseEvents?: AnyKoaEvent[] } = {}): Promise<void> {
    const packs = await m.blobs(OBJECT_STORES.packs.bucket);
    await packs.put(objectNameFor(s.tenant, s.packDigest), o.storedBytes ?? s.packBytes);
    await m.append(s.buildEvents as KoaEvent[]);
    await m.append((o.caseEvents ?? s.caseEvents) as KoaEvent[]);
  }

  const events = async (aggregate: 'release' | 'channel' | 'case', id: string) => (await m.readAggregate(TENANT, aggregate, id)).events;
  const types = async (aggregate: 'release' | 'channel', id: string) => (await events(aggregate, id)).map((e) => e.type.split('.').slice(3, 5).join('.'));
  const finished = (releaseId: string) =>
    eventually(
      async () => {
        const evs = await events('release', releaseId);
        const last = evs.find((e) => e.type === 'io.koa.release.release.activated.v1' || e.type === 'io.koa.release.release.refused.v1');
        if (!last) throw new Error(`release ${releaseId} not finished: ${evs.map((e) => e.type).join(',')}`);
        return last;
      },
      { timeoutMs: 30_000, what: `release ${releaseId} activated or refused` },
    );
  const channelEvents = (env: string, channel: string) => events('channel', channelAggregateId(env, channel)) as Promise<Array<EventByType<'io.koa.release.channel.advanced.v1'>>>;
  const lastNotice = async (env: string, channel: string) => {
    const last = await m.lastMessage(STREAMS.releases.name, subjects.release(TENANT, env, channel));
    return last && { seq: last.seq, jws: Buffer.from(last.data).toString('utf8') };
  };
  const httpGet = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers });
  const verifyAgainstServedRoot = async (jws: string, scope: { env: string; channel: string }, lastTrustedVersion: number) => {
    const res = await httpGet(`/v1/trust/${scope.env}`);
    expect(res.status).toBe(200);
    const trustRoot = await loadTrustRoot(await res.text(), { env: scope.env, now: clock.now() });
    return verifyReleaseNotice(jws, { trustRoot, scope: { tenant: TENANT, ...scope }, lastTrustedVersion, now: clock.now() });
  };

  const first = () => scenario({ taskId: 't1', packBytes: validPackBytes('pack one', TENANT) });
  const second = () => scenario({ taskId: 't2', packBytes: validPackBytes('pack two, a little longer', TENANT) });

  // ---- the happy path ------------------------------------------------------------------------
  it('verifies, advances the channel to version 1, activates with a notice that verifies against GET /v1/trust/dev, and publishes it', async () => {
    const s = first();
    await seed(s);
    const activated = (await finished('r-t1')) as Activated;
    expect(activated.type).toBe('io.koa.release.release.activated.v1');
    expect(await types('release', 'r-t1')).toEqual(['release.verified', 'release.activated']);
    const verified = (await events('release', 'r-t1'))[0] as EventByType<'io.koa.release.release.verified.v1'>;
    expect(verified.data.checks.map((c) => c.check)).toEqual(['case-requested', 'build-succeeded', 'provenance', 'pack-bytes', 'pack-structure', 'environment-policy']);
    expect(verified.correlationid).toBe(s.caseId);
    expect(verified.causationid).toBe(s.releaseTask.id);

    const channel = await channelEvents('dev', 'stable');
    expect(channel.map((e) => e.data)).toEqual([{ env: 'dev', channel: 'stable', version: 1, releaseId: 'r-t1', packDigest: s.packDigest }]);
    expect(activated.data).toMatchObject({ releaseId: 'r-t1', version: 1, packDigest: s.packDigest, packSize: s.packBytes.byteLength, caseId: s.caseId, taskId: 't1' });
    expect(activated.data.previous).toBeUndefined();
    expect(activated.data.expiresAt).toBe(new Date(T0 + 30 * 86_400_000).toISOString());

    const v = await verifyAgainstServedRoot(activated.data.notice, { env: 'dev', channel: 'stable' }, 0);
    expect(v.kid).toBe(activated.data.kid);
    expect(v.claims).toEqual({
      iss: 'koa:konnaxion-release', tenant: TENANT, env: 'dev', channel: 'stable', version: 1, releaseId: 'r-t1', caseId: s.caseId,
      pack: { digest: s.packDigest, size: s.packBytes.byteLength }, provenanceDigest: s.provenanceDigest, evidenceDigest: s.evidenceDigest,
      iat: T0 / 1000, exp: T0 / 1000 + 30 * 86_400,
    });
    await eventually(async () => expect((await lastNotice('dev', 'stable'))?.jws).toBe(activated.data.notice), { what: 'notice on KOA_RELEASES' });
  });

  it('a notice signed for dev does not verify against the staging trust root (per-environment keys)', async () => {
    const activated = (await finished('r-t1')) as Activated;
    const staging = await httpGet('/v1/trust/staging');
    expect(staging.status).toBe(200);
    const stagingRoot = await loadTrustRoot(await staging.text(), { env: 'staging', now: clock.now() });
    const devRoot = await loadTrustRoot(await (await httpGet('/v1/trust/dev')).text(), { env: 'dev', now: clock.now() });
    expect(devRoot.releaseKeys.has(activated.data.kid)).toBe(true);
    expect(stagingRoot.releaseKeys.has(activated.data.kid)).toBe(false);
    expect([...stagingRoot.rootKeys.keys()].some((k) => devRoot.rootKeys.has(k))).toBe(false);
    // a consumer pinned to staging refuses the dev notice outright
    await expect(verifyReleaseNotice(activated.data.notice, { trustRoot: stagingRoot, scope: { tenant: TENANT, env: 'dev', channel: 'stable' }, lastTrustedVersion: 0, now: clock.now() })).rejects.toMatchObject({ code: 'TRUST_ROOT_INVALID' });
  });

  it('serves the channel status from the read model', async () => {
    const activated = (await finished('r-t1')) as Activated;
    const body = await eventually(async () => {
      const res = await httpGet(`/v1/tenants/${TENANT}/channels/dev/stable`);
      expect(res.status).toBe(200);
      return res.json();
    }, { what: 'channel status' });
    expect(body).toMatchObject({ tenant: TENANT, env: 'dev', channel: 'stable', version: 1, releaseId: 'r-t1', packDigest: activated.data.packDigest, notice: activated.data.notice, kid: activated.data.kid, subject: `koa.release.${TENANT}.dev.stable` });
  });

  it('downloads the exact pack bytes with type, length and ETag, by path and by query; 304 on If-None-Match; 404 PACK_NOT_FOUND', async () => {
    const s = first();
    for (const path of [`/v1/tenants/${TENANT}/packs/${s.packDigest}`, `/v1/tenants/${TENANT}/packs/${encodeURIComponent(s.packDigest)}`, `/v1/packs/${s.packDigest}?tenant=${TENANT}`]) {
      const res = await httpGet(path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/vnd.koa.pack.v1+tar');
      expect(res.headers.get('content-length')).toBe(String(s.packBytes.byteLength));
      expect(res.headers.get('etag')).toBe(`"${s.packDigest}"`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect(Buffer.from(bytes).equals(Buffer.from(s.packBytes))).toBe(true);
    }
    expect((await httpGet(`/v1/tenants/${TENANT}/packs/${s.packDigest}`, { 'If-None-Match': `"${s.packDigest}"` })).status).toBe(304);
    const head = await fetch(`${base}/v1/tenants/${TENANT}/packs/${s.packDigest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(s.packBytes.byteLength));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    expect(await (await httpGet(`/v1/tenants/bad.tenant/packs/${s.packDigest}`)).json()).toMatchObject({ code: 'SUBJECT_TOKEN_INVALID' });
    const missing = await httpGet(`/v1/tenants/${TENANT}/packs/${sha256Digest('nothing')}`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect(await missing.json()).toMatchObject({ code: 'PACK_NOT_FOUND' });
    const otherTenant = await httpGet(`/v1/tenants/other/packs/${s.packDigest}`);
    expect(await otherTenant.json()).toMatchObject({ code: 'PACK_NOT_FOUND' });
    expect(await (await httpGet(`/v1/tenants/${TENANT}/packs/sha256:XYZ`)).json()).toMatchObject({ code: 'REQUEST_INVALID' });
    expect(await (await httpGet(`/v1/packs/${s.packDigest}`)).json()).toMatchObject({ code: 'REQUEST_INVALID' });
  });

  it('a stored pack this process never verified is streamed from koa-packs: 200 with the bytes, HEAD, 304', async () => {
    const bytes = new TextEncoder().encode('a pack only in the store');
    const digest = sha256Digest(bytes);
    await (await m.blobs(OBJECT_STORES.packs.bucket)).put(objectNameFor(TENANT, digest), bytes);
    const res = await httpGet(`/v1/tenants/${TENANT}/packs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(bytes.byteLength));
    expect(res.headers.get('etag')).toBe(`"${digest}"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
    const head = await fetch(`${base}/v1/tenants/${TENANT}/packs/${digest}`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), (await head.arrayBuffer()).byteLength]).toEqual([200, String(bytes.byteLength), 0]);
    expect((await httpGet(`/v1/tenants/${TENANT}/packs/${digest}`, { 'If-None-Match': `"${digest}"` })).status).toBe(304);
  });

  it('404 CHANNEL_NOT_FOUND for a channel with no release; 404 for the trust root of an unknown environment', async () => {
    const ch = await httpGet(`/v1/tenants/${TENANT}/channels/dev/nothing-here`);
    expect(ch.status).toBe(404);
    expect(await ch.json()).toMatchObject({ code: 'CHANNEL_NOT_FOUND' });
    const trust = await httpGet('/v1/trust/qa');
    expect(trust.status).toBe(404);
    expect(await trust.json()).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a second release advances the channel to version 2 with the first as previous', async () => {
    nowMs = T0 + 60_000;
    const s = second();
    await seed(s);
    const activated = (await finished('r-t2')) as Activated;
    expect(activated.data).toMatchObject({ version: 2, previous: { releaseId: 'r-t1', version: 1, packDigest: first().packDigest } });
    expect((await channelEvents('dev', 'stable')).map((e) => [e.data.version, e.data.releaseId])).toEqual([[1, 'r-t1'], [2, 'r-t2']]);
    const v = await verifyAgainstServedRoot(activated.data.notice, { env: 'dev', channel: 'stable' }, 1);
    expect(v.claims.version).toBe(2);
    await eventually(async () => expect((await lastNotice('dev', 'stable'))?.jws).toBe(activated.data.notice), { what: 'notice v2 published' });
    await eventually(async () => expect(await (await httpGet(`/v1/tenants/${TENANT}/channels/dev/stable`)).json()).toMatchObject({ version: 2, releaseId: 'r-t2' }), { what: 'status v2' });
  });

  // ---- refusals: the channel keeps the previous release ------------------------------------
  const expectChannelUnchanged = async () => {
    expect((await channelEvents('dev', 'stable')).map((e) => e.data.releaseId)).toEqual(['r-t1', 'r-t2']);
    const v2 = (await finished('r-t2')) as Activated;
    expect((await lastNotice('dev', 'stable'))?.jws).toBe(v2.data.notice);
    expect(await (await httpGet(`/v1/tenants/${TENANT}/channels/dev/stable`)).json()).toMatchObject({ version: 2, releaseId: 'r-t2' });
  };

  it.each([
    ['pack bytes tampered in the store', 'RELEASE_PACK_DIGEST_MISMATCH', 't-tamper', {}, (s: Scenario) => ({ storedBytes: new TextEncoder().encode('X'.repeat(s.packBytes.byteLength)) })],
    ['evidence not passed', 'RELEASE_BUILD_NOT_PASSED', 't-evidence', { validationPassed: false }, () => ({})],
    ['untrusted builder', 'RELEASE_PROVENANCE_INVALID', 't-builder', { builderId: 'koa:someone-else' }, () => ({})],
  ] as const)('refuses %s with %s and leaves the channel on the previous release', async (_what, code, taskId, options, seedOptions) => {
    const s = scenario({ taskId, ...options });
    await seed(s, seedOptions(s));
    const outcome = await finished(`r-${taskId}`);
    expect(outcome.type).toBe('io.koa.release.release.refused.v1');
    expect(outcome.data).toMatchObject({ code, releaseId: `r-${taskId}`, caseId: s.caseId, taskId, env: 'dev', channel: 'stable', packDigest: s.packDigest });
    expect(await types('release', `r-${taskId}`)).toEqual(['release.refused']);
    await expectChannelUnchanged();
  });

  it('refuses RELEASE_NOT_REQUESTED when the Case the task names has no such task, and leaves the channel', async () => {
    const s = scenario({ taskId: 't-orphan' });
    // the named Case exists but never requested this release; the task is delivered from another Case's subject
    const forged = createEvent(TaskRequested, {
      id: 'forged-release-task',
      time: new Date(nowMs).toISOString(),
      source: 'orgo-control',
      tenant: TENANT,
      aggregateId: 'c-host',
      actor: 'service:orgo-control',
      data: s.releaseTask.data as EventByType<'io.koa.orgo.task.requested.v1'>['data'],
    });
    await seed(s, { caseEvents: [s.caseEvents[0]] });
    await m.append([forged as KoaEvent]);
    const outcome = await finished('r-t-orphan');
    expect(outcome.data).toMatchObject({ code: 'RELEASE_NOT_REQUESTED' });
    await expectChannelUnchanged();
  });

  it('refuses PACK_FORMAT_INVALID a trusted build whose pack has a malformed entity line (right digest and size): nothing signed, the channel stays', async () => {
    // everything else is consistent: trusted builder, passing evidence, the stored bytes ARE the
    // requested digest and size, and the archive passes the runtime's activation-time checks
    const s = scenario({ taskId: 't-badline', packBytes: packWithMalformedEntityLine('bad line', TENANT) });
    await seed(s);
    const outcome = await finished('r-t-badline');
    expect(outcome.type).toBe('io.koa.release.release.refused.v1');
    expect(outcome.data).toMatchObject({ code: 'PACK_FORMAT_INVALID', releaseId: 'r-t-badline', packDigest: s.packDigest, channel: 'stable' });
    expect((outcome.data as { message: string }).message).toMatch(/entities\.ndjson/);
    expect(await types('release', 'r-t-badline')).toEqual(['release.refused']);
    await expectChannelUnchanged();
  });

  // ---- idempotency and crash recovery -------------------------------------------------------
  it('redelivery of an activated or refused task appends nothing and publishes nothing new', async () => {
    const process = service.app.get(ReleaseProcess);
    const before = {
      r2: (await events('release', 'r-t2')).length,
      refused: (await events('release', 'r-t-evidence')).length,
      channel: (await channelEvents('dev', 'stable')).length,
      notice: await lastNotice('dev', 'stable'),
    };
    const task2 = second().releaseTask as EventByType<'io.koa.orgo.task.requested.v1'>;
    expect(await process.handleTask(task2)).toEqual({ outcome: 'activated', releaseId: 'r-t2', version: 2, resumed: true, notice: 'already-published' });
    const refusedTask = scenario({ taskId: 't-evidence', validationPassed: false }).releaseTask as EventByType<'io.koa.orgo.task.requested.v1'>;
    expect(await process.handleTask(refusedTask)).toMatchObject({ outcome: 'refused', code: 'RELEASE_BUILD_NOT_PASSED', resumed: true });
    // also through the consumer: the same task again under a new event id (past any de-dup window)
    await m.append([createEvent(TaskRequested, { id: 'redelivered-t2', time: new Date(nowMs).toISOString(), source: 'orgo-control', tenant: TENANT, aggregateId: 'c-t2', actor: 'service:orgo-control', data: task2.data }) as KoaEvent]);
    // a later release on another channel proves the consumer got past the redelivered task
    const marker = scenario({ taskId: 't-marker', channel: 'marker' });
    await seed(marker);
    await finished('r-t-marker');
    expect((await events('release', 'r-t2')).length).toBe(before.r2);
    expect((await events('release', 'r-t-evidence')).length).toBe(before.refused);
    expect((await channelEvents('dev', 'stable')).length).toBe(before.channel);
    expect(await lastNotice('dev', 'stable')).toEqual(before.notice);
  });

  it('resumes a run that crashed after ChannelAdvanced and before ReleaseActivated: signs for that version and publishes', async () => {
    nowMs = T0 + 120_000;
    const s = scenario({ taskId: 't-crash', channel: 'crash' });
    const common = { time: new Date(nowMs).toISOString(), source: 'konnaxion-release', tenant: TENANT, actor: 'service:konnaxion-release', correlationId: s.caseId, causationId: s.releaseTask.id };
    // what a crashed run left behind: verified, channel advanced to 1, nothing else
    await m.append([createEvent(ReleaseVerified, { ...common, id: releaseEventId(TENANT, 'r-t-crash', 'verified'), aggregateId: 'r-t-crash', data: { releaseId: 'r-t-crash', caseId: s.caseId, taskId: 't-crash', env: 'dev', channel: 'crash', packDigest: s.packDigest, checks: [{ check: 'pack-bytes', passed: true }] } }) as KoaEvent], { expectedLastSubjectSequence: 0 });
    await m.append([createEvent(ChannelAdvanced, { ...common, id: releaseEventId(TENANT, 'r-t-crash', 'advanced'), aggregateId: channelAggregateId('dev', 'crash'), data: { env: 'dev', channel: 'crash', version: 1, releaseId: 'r-t-crash', packDigest: s.packDigest } }) as KoaEvent], { expectedLastSubjectSequence: 0 });
    await seed(s); // the (re)delivered task
    const activated = (await finished('r-t-crash')) as Activated;
    expect(await types('release', 'r-t-crash')).toEqual(['release.verified', 'release.activated']);
    expect((await channelEvents('dev', 'crash')).map((e) => e.data.version)).toEqual([1]);
    expect(activated.data.version).toBe(1);
    const v = await verifyAgainstServedRoot(activated.data.notice, { env: 'dev', channel: 'crash' }, 0);
    expect(v.claims).toMatchObject({ version: 1, releaseId: 'r-t-crash' });
    await eventually(async () => expect((await lastNotice('dev', 'crash'))?.jws).toBe(activated.data.notice), { what: 'recovered notice published' });
  });

  it('releases racing on one channel (consumer and direct calls concurrently) get versions 1..n, each event once', async () => {
    const racers = ['a', 'b', 'c', 'd', 'e', 'f'].map((x) => scenario({ taskId: `t-race-${x}`, channel: 'race', packBytes: validPackBytes(`race ${x}`, TENANT) }));
    const process = service.app.get(ReleaseProcess);
    await Promise.all(racers.map((r) => seed(r)));
    // every racer twice, directly, while the consumer handles the same tasks; like the transport,
    // retry a call that surfaces the (retryable) CONCURRENCY_CONFLICT after its bounded attempts
    const settle = async (r: Scenario) => {
      for (let i = 0; ; i++) {
        try {
          return await process.handleTask(r.releaseTask as never);
        } catch (e) {
          if (i < 5 && (e as { code?: string }).code === 'CONCURRENCY_CONFLICT' && (e as { retryable?: boolean }).retryable) continue;
          throw e;
        }
      }
    };
    const direct = await Promise.all([...racers, ...racers].map(settle));
    for (const d of direct) expect(d.outcome).toBe('activated');
    await Promise.all(racers.map((r) => finished(`r-${r.taskId}`)));
    const channel = await channelEvents('dev', 'race');
    expect(channel.map((e) => e.data.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(channel.map((e) => e.data.releaseId))).toEqual(new Set(racers.map((r) => `r-${r.taskId}`)));
    for (const r of racers) {
      expect(await types('release', `r-${r.taskId}`)).toEqual(['release.verified', 'release.activated']);
      const a = (await finished(`r-${r.taskId}`)) as Activated;
      expect(a.data.version).toBe(channel.find((e) => e.data.releaseId === `r-${r.taskId}`)?.data.version);
    }
    const headActivated = (await finished(channel[5].data.releaseId)) as Activated;
    await eventually(async () => expect((await lastNotice('dev', 'race'))?.jws).toBe(headActivated.data.notice), { what: 'head notice is the last on the subject' });
  });

  it('refuses RELEASE_POLICY_DENIED for an environment the service does not release to (no keys are created for it)', async () => {
    const s = scenario({ taskId: 't-qa', env: 'qa' });
    await seed(s);
    const outcome = await finished('r-t-qa');
    expect(outcome.data).toMatchObject({ code: 'RELEASE_POLICY_DENIED', env: 'qa' });
    expect(await channelEvents('qa', 'stable')).toEqual([]);
    expect((await httpGet('/v1/trust/qa')).status).toBe(404);
  });

  it('ignores build tasks', async () => {
    const process = service.app.get(ReleaseProcess);
    const buildTask = first().caseEvents[1] as EventByType<'io.koa.orgo.task.requested.v1'>;
    expect(await process.handleTask(buildTask)).toMatchObject({ outcome: 'ignored' });
  });
});
