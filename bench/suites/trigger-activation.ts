import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { Messaging } from '@koa/platform/messaging';
import { eventually } from '@koa/platform/testing';
import { loadTrustRoot } from '@koa/release/verify';
import { RuntimeClient } from '@koa/runtime-client';
import { bySize, now, seconds, stallMs, type BenchContext, type Sample, type Suite } from '../harness';
import { prng, startSuiteStack, words, type SuiteStack } from './common';

/**
 * trigger ⇒ activation: the whole governed chain with the five services as processes — an
 * operator trigger (`POST /v1/tenants/<t>/cases`) ⇒ orgo-control opens the Case and requests a
 * build ⇒ pipeline-worker builds a small pack ⇒ orgo-control requests the release ⇒
 * konnaxion-release verifies, signs, advances the channel and publishes the notice ⇒ a
 * RuntimeClient (in the bench process) verifies, downloads, persists and activates it — timed
 * per operation, from the POST until the client reports `activated` for the new version.
 *
 * Anchor: ONE hop of the same kinds of work — publish ⇒ durable consumer ⇒ one Postgres insert ⇒
 * publish ⇒ receive (JetStream both ways), timed per message. Goal: p50 and p99 within 10× the
 * one-hop figures.
 *
 * Each trigger builds a snapshot set of its own (one fresh document, uploaded and sealed in
 * setup), so every release carries a new pack and the consumer really downloads it.
 */
/** The few public HTTP calls of the chain this suite makes (docs/ingest.md, governed-work.md, release-service.md). */
class ChainHttp {
  constructor(readonly urls: { ingest: string; orgo: string; release: string }) {}

  private async call<T>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
    const res = await fetch(url, init);
    const text = await res.text();
    if (res.status >= 400) throw new Error(`${init.method ?? 'GET'} ${url} answered ${res.status}: ${text.slice(0, 300)}`);
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async upload(tenant: string, source: string, ref: string, bytes: Uint8Array, mediaType: string): Promise<{ digest: string }> {
    const h = { 'content-type': mediaType, 'x-koa-actor': 'user:bench-operator', 'x-koa-source-ref': ref };
    return (await this.call<{ digest: string }>(`${this.urls.ingest}/v1/tenants/${tenant}/sources/${source}/snapshots`, { method: 'POST', headers: h, body: bytes })).body;
  }

  async sealSet(tenant: string, digests: readonly string[], label: string): Promise<{ root: string }> {
    const h = { 'content-type': 'application/json', 'x-koa-actor': 'user:bench-operator' };
    return (await this.call<{ root: string }>(`${this.urls.ingest}/v1/tenants/${tenant}/snapshot-sets`, { method: 'POST', headers: h, body: JSON.stringify({ digests, label }) })).body;
  }

  async trigger(tenant: string, o: { snapshotSetRoot: string; env: string; channel: string; reason: string; idempotencyKey: string }): Promise<{ status: number; view: CaseView }> {
    const h = { 'content-type': 'application/json', 'idempotency-key': o.idempotencyKey, 'x-koa-actor': 'user:bench-operator' };
    const { status, body } = await this.call<CaseView>(`${this.urls.orgo}/v1/tenants/${tenant}/cases`, { method: 'POST', headers: h, body: JSON.stringify({ snapshotSetRoot: o.snapshotSetRoot, env: o.env, channel: o.channel, reason: o.reason }) });
    return { status, view: body };
  }

  async getCase(tenant: string, caseId: string): Promise<CaseView> {
    return (await this.call<CaseView>(`${this.urls.orgo}/v1/tenants/${tenant}/cases/${caseId}`)).body;
  }

  async waitClosed(tenant: string, caseId: string, timeoutMs: number): Promise<CaseView> {
    const v = await eventually(async () => {
      const view = await this.getCase(tenant, caseId);
      return view.status === 'closed' ? view : false;
    }, { timeoutMs, intervalMs: 50, what: `case ${caseId} closed` });
    if (v === false) throw new Error(`case ${caseId} not closed`);
    return v;
  }

  async channel(tenant: string, env: string, channel: string): Promise<{ version: number; packDigest: string }> {
    return (await this.call<{ version: number; packDigest: string }>(`${this.urls.release}/v1/tenants/${tenant}/channels/${env}/${channel}`)).body;
  }

  /** the signed trust root document of an environment (what a consumer pins) */
  async trustRoot(env: string): Promise<object> {
    return (await this.call<object>(`${this.urls.release}/v1/trust/${env}`)).body;
  }
}

interface CaseView {
  readonly caseId: string;
  readonly status: 'open' | 'closed';
  readonly phase: string;
  readonly outcome?: 'succeeded' | 'failed';
  readonly code?: string;
  readonly message?: string;
}

const TENANT = 'benchchain';
const ENV = 'dev';
const CHANNEL = 'bench';
const oursOps = (ctx: BenchContext): number => bySize(ctx, { smoke: 1, quick: 4, full: 10 });
const anchorOps = (ctx: BenchContext): number => bySize(ctx, { smoke: 20, quick: 100, full: 200 });

let stack: SuiteStack | undefined;
let chain: ChainHttp | undefined;
let messaging: Messaging | undefined;
let client: RuntimeClient | undefined;
let dir = '';
let roots: string[] = [];
let nextRoot = 0;
let waiters = new Map<number, () => void>();
let lastActivated = 0;

// anchor
let anchorNc: NatsConnection | undefined;
let anchorDb: Client | undefined;
let hopIter: ConsumerMessages | undefined;
let outIter: ConsumerMessages | undefined;
let hopLoops: Array<Promise<void>> = [];
const pendingHops = new Map<string, () => void>();
const HOP_STREAM = 'BENCH_HOP';

export const triggerActivation: Suite = {
  name: 'trigger-activation',
  anchorText: 'one hop: JetStream publish ⇒ durable consumer ⇒ one Postgres INSERT ⇒ publish ⇒ receive',
  oursText: 'operator trigger ⇒ Case ⇒ build ⇒ release ⇒ RuntimeClient active (five service processes, small pack)',
  metric: { kind: 'latency' },
  goal: { text: 'p50 ≤ 10× and p99 ≤ 10× one hop', max: 10 },
  async setup(ctx) {
    stack = await startSuiteStack(ctx, 'bench_chain', ['ingest-gateway', 'orgo-control', 'pipeline-worker', 'konnaxion-release', 'audit-ledger']);
    const s = stack.stack.services;
    chain = new ChainHttp({ ingest: s['ingest-gateway']!.url, orgo: s['orgo-control']!.url, release: s['konnaxion-release']!.url });
    // one sealed snapshot set per trigger of the whole run (unmeasured)
    const total = oursOps(ctx) * 5;
    const rand = prng(4242);
    roots = [];
    nextRoot = 0;
    for (let i = 0; i < total; i++) {
      const lines = Array.from({ length: 20 }, (_, k) => JSON.stringify({ id: `eq-${i}-${k}`, type: 'equipment', title: `Unit ${k} ${words(rand, 3)}`, text: words(rand, 30), site: `site-${k % 3}` }));
      const up = await chain.upload(TENANT, 'bench', `set-${i}.ndjson`, new TextEncoder().encode(lines.join('\n')), 'application/x-ndjson');
      roots.push((await chain.sealSet(TENANT, [up.digest], `bench-${i}`)).root);
    }
    // the consumer: pins the dev trust root, follows the channel, downloads from konnaxion-release
    dir = mkdtempSync(join(tmpdir(), 'koa-bench-chain-'));
    const trustRoot = await loadTrustRoot(await chain.trustRoot(ENV), { env: ENV, now: new Date() });
    messaging = await Messaging.connect({ url: stack.nats.url, name: 'bench-chain-consumer' });
    const onActivated = (f: Record<string, unknown>): void => {
      if (f['msg'] !== 'runtime: activated') return;
      lastActivated = Number(f['version']);
      waiters.get(lastActivated)?.();
    };
    client = new RuntimeClient({
      tenant: TENANT, env: ENV, channel: CHANNEL, consumerId: 'bench-device', trustRoot, dataDir: join(dir, 'consumer'), messaging, releaseUrl: s['konnaxion-release']!.url,
      logger: { info: onActivated, warn: () => undefined, error: () => undefined },
    });
    await client.start();

    // the one-hop anchor on the bench's nats-server and database
    anchorNc = await connect({ servers: ctx.natsUrl, noAsyncTraces: true });
    const jsm = await jetstreamManager(anchorNc);
    await jsm.streams.add({ name: HOP_STREAM, subjects: ['bench.hop.>'] });
    await jsm.consumers.add(HOP_STREAM, { durable_name: 'hop-service', ack_policy: AckPolicy.Explicit, filter_subject: 'bench.hop.in' });
    await jsm.consumers.add(HOP_STREAM, { durable_name: 'hop-receiver', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, filter_subject: 'bench.hop.out' });
    anchorDb = new Client({ connectionString: await ctx.pgUrl('bench_hop') });
    await anchorDb.connect();
    await anchorDb.query('CREATE TABLE hops (id text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
    const js = jetstream(anchorNc);
    hopIter = await (await js.consumers.get(HOP_STREAM, 'hop-service')).consume();
    outIter = await (await js.consumers.get(HOP_STREAM, 'hop-receiver')).consume();
    hopLoops = [
      (async () => {
        for await (const m of hopIter!) {
          const id = Buffer.from(m.data).toString('utf8');
          await anchorDb!.query('INSERT INTO hops (id) VALUES ($1)', [id]);
          await js.publish('bench.hop.out', m.data, { msgID: `out-${id}` });
          m.ack();
        }
      })(),
      (async () => {
        for await (const m of outIter!) {
          pendingHops.get(Buffer.from(m.data).toString('utf8'))?.();
          m.ack();
        }
      })(),
    ];
  },
  async anchor(ctx, _v, round): Promise<Sample> {
    const n = anchorOps(ctx);
    const js = jetstream(anchorNc!);
    const lat: number[] = [];
    const t0 = now();
    for (let i = 0; i < n; i++) {
      const id = `r${round}-${i}`;
      const received = new Promise<void>((resolve) => pendingHops.set(id, resolve));
      const t = now();
      await js.publish('bench.hop.in', new TextEncoder().encode(id), { msgID: `in-${id}` });
      await received;
      lat.push(Number(now() - t) / 1e6);
      pendingHops.delete(id);
    }
    const s = seconds(t0);
    const { rows } = await anchorDb!.query('SELECT count(*)::int AS n FROM hops WHERE id LIKE $1', [`r${round}-%`]);
    return { work: n, seconds: s, latenciesMs: lat, check: { ok: rows[0].n === n && lat.length === n, detail: `hops received ${lat.length}/${n}, rows ${rows[0].n}` } };
  },
  async ours(ctx, _v, round): Promise<Sample> {
    const n = oursOps(ctx);
    const lat: number[] = [];
    const problems: string[] = [];
    const cases: string[] = [];
    const t0 = now();
    for (let i = 0; i < n; i++) {
      const root = roots[nextRoot++];
      if (!root) throw new Error('trigger-activation: ran out of prepared snapshot sets');
      const version = lastActivated + 1;
      const activated = new Promise<void>((resolve) => waiters.set(version, resolve));
      const t = now();
      const { status, view } = await chain!.trigger(TENANT, { snapshotSetRoot: root, env: ENV, channel: CHANNEL, reason: `bench round ${round} op ${i}`, idempotencyKey: `bench-${round}-${i}-${root.slice(7, 19)}` });
      if (status !== 201) problems.push(`trigger answered ${status}`);
      cases.push(view.caseId);
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), stallMs(ctx)).unref());
      if ((await Promise.race([activated.then(() => 'ok' as const), timeout])) === 'timeout') {
        const v = await chain!.getCase(TENANT, view.caseId).catch(() => undefined);
        throw new Error(`trigger-activation: version ${version} not activated within ${stallMs(ctx) / 1000} s (case ${view.caseId} ${v?.phase ?? '?'} ${v?.code ?? ''} ${v?.message ?? ''})`);
      }
      lat.push(Number(now() - t) / 1e6);
      waiters.delete(version);
    }
    const s = seconds(t0);
    // the Cases closed succeeded, and the consumer is active on the channel's current version
    const closed = await Promise.all(cases.map((c) => chain!.waitClosed(TENANT, c, 60_000)));
    const channel = await chain!.channel(TENANT, ENV, CHANNEL);
    const st = client!.status();
    const ok = problems.length === 0 && closed.every((c) => c.outcome === 'succeeded') && st.state === 'active' && st.version === channel.version && st.packDigest === channel.packDigest;
    return {
      work: n,
      seconds: s,
      latenciesMs: lat,
      check: { ok, detail: `activated ${lat.length}/${n}, cases succeeded ${closed.filter((c) => c.outcome === 'succeeded').length}/${n}, consumer ${st.state} v${st.version} = channel v${channel.version}${problems.length ? `; ${problems[0]}` : ''}` },
    };
  },
  async teardown() {
    await client?.stop().catch(() => undefined);
    await messaging?.close().catch(() => undefined);
    await hopIter?.close().catch(() => undefined);
    await outIter?.close().catch(() => undefined);
    await Promise.all(hopLoops.map((l) => l.catch(() => undefined)));
    if (anchorNc) await (await jetstreamManager(anchorNc)).streams.delete(HOP_STREAM).catch(() => undefined);
    await anchorNc?.close().catch(() => undefined);
    await anchorDb?.end().catch(() => undefined);
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    stack = undefined;
    client = undefined;
    messaging = undefined;
    anchorNc = undefined;
    waiters = new Map();
    lastActivated = 0;
  },
};
