/**
 * The demo's story, step by step: the product's main job through all five services and a
 * runtime consumer, then a refused release, then "what happened". Each step prints what an
 * operator would want to see and throws if the system did not do what it should.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { digestHex, sha256Digest, subjects } from '@koa/contracts';
import { renderReleaseStory, type ReleaseStory } from '@koa/ledger/domain';
import { Messaging } from '@koa/platform/messaging';
import { freePort } from '@koa/platform/testing';
import { ChainClient, type CaseView } from './chain-client';
import type { DemoContext, DemoStep } from './main';

const REPO = resolve(__dirname, '..', '..');
const SAMPLES = join(REPO, 'samples');
const TENANT = 'acme';
const ENV = 'dev';
const CHANNEL = 'field-kb';
const SOURCE = 'field-docs';
/** this sample arrives the other way: published to NATS by an "external system" */
const NATS_SAMPLE = 'contacts.ndjson';

interface DemoState {
  chain?: ChainClient;
  goodRoot?: string;
  goodCase?: CaseView;
  releaseId?: string;
  packDigest?: string;
  consumer?: { url: string; child: ChildProcess; dir: string; log: () => string };
}

const state: DemoState = {};

const chainOf = (ctx: DemoContext): ChainClient => {
  if (!state.chain) {
    const url = (name: 'ingest-gateway' | 'orgo-control' | 'konnaxion-release' | 'audit-ledger'): string => {
      const svc = ctx.stack.services[name];
      if (!svc) throw new Error(`${name} is not running`);
      return svc.url;
    };
    state.chain = new ChainClient({ ingest: url('ingest-gateway'), orgo: url('orgo-control'), release: url('konnaxion-release'), ledger: url('audit-ledger') }, 'user:alice');
  }
  return state.chain;
};

async function poll<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

const short = (digest: string): string => `${digest.slice(0, 19)}…`;

async function runCase(ctx: DemoContext, dir: string, key: string, reason: string): Promise<CaseView> {
  const chain = chainOf(ctx);
  const uploads = await chain.uploadDir(TENANT, SOURCE, dir);
  for (const u of uploads) ctx.say(`uploaded ${u.file.padEnd(28)} ${short(u.digest)} ${String(u.size).padStart(5)} B${u.duplicate ? ' (already captured: same snapshot)' : ''}`);
  const set = await chain.sealSet(TENANT, uploads.map((u) => u.digest), key);
  ctx.say(`sealed snapshot set ${short(set.root)} (${set.digests.length} snapshots)`);
  const { view } = await chain.trigger(TENANT, { snapshotSetRoot: set.root, env: ENV, channel: CHANNEL, reason, idempotencyKey: key });
  ctx.say(`operator user:alice opened Case ${view.caseId}: "${reason}"`);
  let lastPhase = '';
  const closed = await poll('the Case to close', async () => {
    const v = await chain.getCase(TENANT, view.caseId);
    if (v.phase !== lastPhase) {
      lastPhase = v.phase;
      ctx.say(`  case phase: ${v.phase}`);
    }
    return v.status === 'closed' ? v : undefined;
  }, 90_000);
  return closed;
}

export const chainSteps: DemoStep[] = [
  {
    title: 'an external system publishes a document to NATS (koa.ingest.acme.field-docs); ingest-gateway captures it',
    async run(ctx) {
      const bytes = readFileSync(join(SAMPLES, 'good', NATS_SAMPLE));
      const messaging = await Messaging.connect({ url: ctx.stack.natsUrl, name: 'demo-publisher' });
      try {
        const id = randomUUID();
        const message = {
          specversion: '1.0',
          id,
          source: 'crm-export',
          type: 'io.koa.ingest.content.v1',
          actor: 'webhook:crm-export',
          reason: 'nightly contact export',
          data: { encoding: 'utf8', content: bytes.toString('utf8'), mediaType: 'application/x-ndjson', sourceRef: `crm://exports/${NATS_SAMPLE}` },
        };
        await messaging.publish(subjects.ingest(TENANT, SOURCE), new TextEncoder().encode(JSON.stringify(message)), { msgId: id });
      } finally {
        await messaging.close();
      }
      const digest = sha256Digest(bytes);
      const snap = await poll('the published snapshot to be captured', async () => {
        const r = await getJson<{ digest: string; provenance: { adapter: { name: string } } }>(`${chainOf(ctx).urls.ingest}/v1/tenants/${TENANT}/snapshots/${digestHex(digest)}`);
        return r.status === 200 ? r.body : undefined;
      });
      ctx.say(`captured ${NATS_SAMPLE} as ${short(snap.digest)} via adapter ${snap.provenance.adapter.name}`);
    },
  },
  {
    title: 'upload the sample documents over HTTP, seal them as a snapshot set, and trigger "build and release to dev/field-kb"',
    async run(ctx) {
      const closed = await runCase(ctx, join(SAMPLES, 'good'), `demo-good-${Date.now()}`, 'publish the field-service knowledge pack');
      if (closed.outcome !== 'succeeded') throw new Error(`the good Case failed: ${closed.code} ${closed.message}`);
      const releaseId = chainOf(ctx).releaseIdOf(closed);
      if (!releaseId) throw new Error('the Case closed without a release');
      const channel = await chainOf(ctx).channel(TENANT, ENV, CHANNEL);
      state.goodCase = closed;
      state.releaseId = releaseId;
      state.packDigest = channel.packDigest;
      ctx.say(`Case ${closed.caseId} succeeded: release ${releaseId} is version ${channel.version} of ${ENV}/${CHANNEL}, pack ${short(channel.packDigest)}`);
    },
  },
  {
    title: 'start the example runtime consumer: it pins the dev trust root, verifies the signed notice and pack offline, and activates',
    async run(ctx) {
      const chain = chainOf(ctx);
      const dir = mkdtempSync(join(tmpdir(), 'koa-demo-consumer-'));
      const trustFile = join(dir, 'trust-root.dev.json');
      writeFileSync(trustFile, await chain.trustRoot(ENV));
      const port = await freePort();
      let log = '';
      const child = spawn(process.execPath, ['-r', '@swc-node/register', join(REPO, 'apps/example-consumer/src/main.ts')], {
        cwd: REPO,
        env: { ...process.env, NATS_URL: ctx.stack.natsUrl, RELEASE_URL: chain.urls.release, TENANT, ENV, CHANNEL, CONSUMER_ID: 'demo-device-1', TRUST_ROOT_FILE: trustFile, DATA_DIR: join(dir, 'data'), HTTP_PORT: String(port), LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (b: Buffer) => (log += b.toString()));
      child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
      const url = `http://127.0.0.1:${port}`;
      state.consumer = { url, child, dir, log: () => log };
      const status = await poll('the consumer to activate', async () => {
        const r = await getJson<{ state: string; version?: number; packDigest?: string; entities?: number }>(`${url}/status`);
        return r.body.state === 'active' ? r.body : undefined;
      });
      if (status.packDigest !== state.packDigest) throw new Error(`consumer activated ${status.packDigest}, expected ${state.packDigest}`);
      ctx.say(`consumer demo-device-1 is ${status.state} on version ${status.version} (${status.entities} entities, pack ${short(status.packDigest ?? '')})`);
      const entity = await getJson<{ id: string; title: string }>(`${url}/entities/eq-pump-cp100`);
      if (entity.status !== 200) throw new Error(`lookup failed: ${JSON.stringify(entity.body)}`);
      ctx.say(`GET /entities/eq-pump-cp100 ⇒ "${entity.body.title}"`);
      const search = await getJson<{ results: Array<{ id: string; title: string }> }>(`${url}/search?q=pump%20seal&limit=3`);
      ctx.say(`GET /search?q=pump seal ⇒ ${search.body.results.map((r) => r.id).join(', ')}`);
      if (search.body.results.length === 0) throw new Error('search found nothing');
    },
  },
  {
    title: 'release a snapshot set that fails validation: the build is refused and the first release stays active',
    async run(ctx) {
      const closed = await runCase(ctx, join(SAMPLES, 'bad'), `demo-bad-${Date.now()}`, 'publish an unreviewed batch');
      if (closed.outcome !== 'failed' || closed.code !== 'VALIDATION_FAILED') throw new Error(`expected the bad Case to fail with VALIDATION_FAILED, got ${closed.outcome} ${closed.code}`);
      ctx.say(`Case ${closed.caseId} failed with ${closed.code}: ${closed.message ?? ''}`);
      const channel = await chainOf(ctx).channel(TENANT, ENV, CHANNEL);
      if (channel.releaseId !== state.releaseId) throw new Error(`channel moved to ${channel.releaseId}`);
      ctx.say(`channel ${ENV}/${CHANNEL} still on version ${channel.version} (${channel.releaseId})`);
      const status = await getJson<{ state: string; version?: number }>(`${state.consumer!.url}/status`);
      if (status.body.state !== 'active' || status.body.version !== channel.version) throw new Error(`consumer is ${JSON.stringify(status.body)}`);
      ctx.say(`consumer still ${status.body.state} on version ${status.body.version}`);
    },
  },
  {
    title: 'ask the audit ledger what happened to the first release, then drop and rebuild its projections and ask again',
    async run(ctx) {
      const chain = chainOf(ctx);
      const story = await poll('the ledger to record the consumer activation', async () => {
        const s = (await chain.whatHappened(TENANT, state.releaseId!)) as unknown as ReleaseStory;
        return s.consumers.some((c) => c.consumerId === 'demo-device-1') ? s : undefined;
      });
      for (const line of renderReleaseStory(story).trimEnd().split('\n')) ctx.say(line);
      await chain.rebuildProjections();
      const again = await chain.whatHappened(TENANT, state.releaseId!);
      if (JSON.stringify(again) !== JSON.stringify(story)) throw new Error('the rebuilt projections answer differently');
      const verify = await chain.verifyLedger();
      ctx.say(`projections rebuilt from the stream: same answer; hash chain verified: ${JSON.stringify(verify)}`);
    },
  },
];

/** Stops the example consumer (SIGTERM) and removes its data; safe to call twice. */
export async function stopDemoConsumer(): Promise<number | null> {
  const c = state.consumer;
  if (!c) return null;
  state.consumer = undefined;
  const code = await new Promise<number | null>((resolveExit) => {
    if (c.child.exitCode !== null) return resolveExit(c.child.exitCode);
    const kill = setTimeout(() => c.child.kill('SIGKILL'), 10_000);
    c.child.once('exit', (exitCode) => {
      clearTimeout(kill);
      resolveExit(exitCode);
    });
    c.child.kill('SIGTERM');
  });
  rmSync(c.dir, { recursive: true, force: true });
  return code;
}
