/**
 * The whole chain, end to end, with the five services as separate processes on a real
 * (private) nats-server and a real Postgres database: ingest ⇒ Case ⇒ build ⇒ release ⇒
 * consumer activation ⇒ "what happened", plus the refusals that keep it honest.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Messaging } from '@koa/platform/messaging';
import { createThrowAwayDatabase, eventually, PrivateNatsServer, type ThrowAwayDatabase } from '@koa/platform/testing';
import { loadTrustRoot } from '@koa/release/verify';
import { RuntimeClient } from '@koa/runtime-client';
import { ChainClient, ProblemError, type CaseView } from '../tools/demo/chain-client';
import { removeStackLogs, startStack, type Stack } from '../tools/stack/stack';

const SAMPLES = resolve(__dirname, '..', 'samples');
const TENANT = 'acme';
const ENV = 'dev';
const CHANNEL = 'field-kb';

let nats: PrivateNatsServer;
let db: ThrowAwayDatabase;
let stack: Stack;
let chain: ChainClient;
let messaging: Messaging;
let consumer: RuntimeClient;
let dataDir: string;

const first: { caseView?: CaseView; releaseId?: string; notice?: string } = {};

beforeAll(async () => {
  nats = await PrivateNatsServer.start();
  db = await createThrowAwayDatabase('koa_e2e');
  dataDir = mkdtempSync(join(tmpdir(), 'koa-e2e-'));
  // release keys of this run only (the service default is ./.koa/keys in the working directory)
  stack = await startStack({ natsUrl: nats.url, databaseUrl: db.url, logLevel: 'warn', serviceEnv: { 'konnaxion-release': { KEYS_DIR: join(dataDir, 'keys') } } });
  const url = (name: keyof Stack['services']): string => {
    const svc = stack.services[name];
    if (!svc) throw new Error(`${name} did not start`);
    return svc.url;
  };
  chain = new ChainClient({ ingest: url('ingest-gateway'), orgo: url('orgo-control'), release: url('konnaxion-release'), ledger: url('audit-ledger') }, 'user:alice');
  messaging = await Messaging.connect({ url: nats.url, name: 'e2e-consumer' });
}, 120_000);

afterAll(async () => {
  await consumer?.stop();
  await messaging?.close();
  const exits = stack ? await stack.stop() : {};
  await nats?.dispose();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  // every service drained and exited 0 on SIGTERM
  expect(Object.values(exits).map((e) => e.code)).toEqual(Object.values(exits).map(() => 0));
  // the services' logs are kept (for a failure's diagnosis) only when the suite failed
  if (stack && Object.values(exits).every((e) => e.code === 0)) removeStackLogs(stack);
}, 60_000);

async function buildAndRelease(dir: string, key: string, files?: readonly string[]): Promise<CaseView> {
  const uploaded = await chain.uploadDir(TENANT, 'field-docs', dir);
  const chosen = files ? uploaded.filter((u) => files.includes(u.file)) : uploaded;
  const set = await chain.sealSet(TENANT, chosen.map((u) => u.digest), `e2e ${key}`);
  const { view } = await chain.trigger(TENANT, { snapshotSetRoot: set.root, env: ENV, channel: CHANNEL, reason: `e2e: ${key}`, idempotencyKey: key });
  return chain.waitClosed(TENANT, view.caseId, 90_000);
}

describe('the whole chain', () => {
  it('builds, signs and releases a good snapshot set; a consumer verifies, activates and answers from it', async () => {
    const closed = await buildAndRelease(join(SAMPLES, 'good'), 'release-1');
    expect(closed).toMatchObject({ status: 'closed', outcome: 'succeeded' });
    const releaseId = chain.releaseIdOf(closed);
    expect(releaseId).toBeDefined();
    first.caseView = closed;
    first.releaseId = releaseId;

    const channel = await chain.channel(TENANT, ENV, CHANNEL);
    expect(channel).toMatchObject({ version: 1, releaseId });
    first.notice = channel.notice;

    const trustRoot = await loadTrustRoot(await chain.trustRoot(ENV), { env: ENV, now: new Date() });
    consumer = new RuntimeClient({
      tenant: TENANT,
      env: ENV,
      channel: CHANNEL,
      consumerId: 'e2e-device-1',
      trustRoot,
      dataDir: join(dataDir, 'consumer'),
      messaging,
      releaseUrl: chain.urls.release,
    });
    await consumer.start();
    await eventually(() => consumer.status().state === 'active' && consumer.status().version === 1, { timeoutMs: 30_000, what: 'consumer active on version 1' });
    expect(consumer.status().packDigest).toBe(channel.packDigest);
    expect(consumer.lookup('eq-pump-cp100')?.title).toBe('Centrifugal pump CP-100');
    expect(consumer.search('seal').map((e) => e.id)).toContain('pt-seal-m37g');
  });

  it('a retried trigger with the same idempotency key lands on the same Case', async () => {
    const set = first.caseView!;
    const intent = (await chain.getCase(TENANT, set.caseId)) as CaseView & { intent: { snapshotSetRoot: string } };
    const again = await chain.trigger(TENANT, { snapshotSetRoot: intent.intent.snapshotSetRoot, env: ENV, channel: CHANNEL, reason: 'e2e: release-1', idempotencyKey: 'release-1' });
    expect(again.status).toBe(200);
    expect(again.view.caseId).toBe(set.caseId);
  });

  it('refuses a snapshot set that fails validation; the first release stays active everywhere', async () => {
    const closed = await buildAndRelease(join(SAMPLES, 'bad'), 'release-bad');
    expect(closed).toMatchObject({ status: 'closed', outcome: 'failed', code: 'VALIDATION_FAILED' });
    expect(chain.releaseIdOf(closed)).toBeUndefined();
    expect(await chain.channel(TENANT, ENV, CHANNEL)).toMatchObject({ version: 1, releaseId: first.releaseId });
    expect(consumer.status()).toMatchObject({ state: 'active', version: 1 });
  });

  it('the consumer refuses a tampered notice and a replayed older notice, keeping its verified pack', async () => {
    const good = readFileSync(join(SAMPLES, 'good', 'equipment.json'));
    expect(good.length).toBeGreaterThan(0);
    // a second, different pack (a subset of the good documents) ⇒ version 2
    const closed = await buildAndRelease(join(SAMPLES, 'good'), 'release-2', ['equipment.json', 'parts.ndjson', 'sites.json', 'contacts.ndjson']);
    expect(closed.outcome).toBe('succeeded');
    await eventually(() => consumer.status().version === 2, { timeoutMs: 30_000, what: 'consumer on version 2' });
    const v2 = await chain.channel(TENANT, ENV, CHANNEL);

    const [h, p, s] = v2.notice.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as { version: number };
    const forged = Buffer.from(JSON.stringify({ ...claims, version: claims.version + 5 })).toString('base64url');
    const tampered = await consumer.offer(`${h}.${forged}.${s}`);
    expect(tampered).toMatchObject({ outcome: 'refused', code: 'NOTICE_SIGNATURE_INVALID' });

    const replayed = await consumer.offer(first.notice!);
    expect(replayed).toMatchObject({ outcome: 'refused', code: 'NOTICE_VERSION_ROLLBACK' });

    expect(consumer.status()).toMatchObject({ version: 2, packDigest: v2.packDigest });
    expect(consumer.lookup('eq-pump-cp100')).toBeDefined();
  });

  it('answers "what happened" for the first release — trigger to consumer — and the same after a projection rebuild', async () => {
    const story = await eventually(
      async () => {
        const s = (await chain.whatHappened(TENANT, first.releaseId!)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- asserting on a JSON document
        const outcomes = (s['consumers'] ?? []).map((c: { consumerId: string; outcome: string; code: string | null }) => `${c.consumerId}:${c.outcome}:${c.code ?? ''}`);
        // both reports the consumer made about release 1: its activation, then its refusal of the replayed notice
        if (!outcomes.includes('e2e-device-1:activated:') || !outcomes.includes('e2e-device-1:refused:NOTICE_VERSION_ROLLBACK')) throw new Error(`consumer reports not projected yet: ${outcomes}`);
        return s;
      },
      { timeoutMs: 30_000, what: 'ledger has both consumer reports for release 1' },
    );
    expect(story['trigger']).toMatchObject({ kind: 'operator', requestedBy: 'user:alice', reason: 'e2e: release-1', idempotencyKey: 'release-1' });
    expect(story['case']).toMatchObject({ caseId: first.caseView!.caseId, status: 'closed', outcome: 'succeeded' });
    expect(story['snapshots'].length).toBe(9);
    for (const snap of story['snapshots']) expect(snap).toMatchObject({ recorded: true, capturedBy: 'user:alice' });
    expect(story['build']['stages'].map((st: { stage: string }) => st.stage)).toEqual(['extract', 'resolve', 'validate', 'compile']);
    expect(story['evidence']).toMatchObject({ passed: true, rulesFailed: 0 });
    expect(story['pack']['digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(story['verification']).toMatchObject({ outcome: 'verified' });
    expect(story['activation']).toMatchObject({ version: 1 });
    expect(story['gaps']).toEqual([]);

    await chain.rebuildProjections();
    const rebuilt = await chain.whatHappened(TENANT, first.releaseId!);
    expect(rebuilt).toEqual(story);
    expect(await chain.verifyLedger()).toMatchObject({ ok: true });
  });

  it('refuses a trigger for an unknown snapshot set with its code', async () => {
    const err = await chain
      .trigger(TENANT, { snapshotSetRoot: `sha256:${'0'.repeat(64)}`, env: ENV, channel: CHANNEL, reason: 'e2e: nothing', idempotencyKey: 'missing-set' })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemError);
    expect((err as ProblemError).problem.code).toBe('SNAPSHOT_NOT_FOUND');
  });
});
