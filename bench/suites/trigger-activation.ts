import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { OBJECT_STORES } from '@koa/contracts';
import { Messaging } from '@koa/platform/messaging';
import { eventually } from '@koa/platform/testing';
import { loadTrustRoot } from '@koa/release/verify';
import { RuntimeClient } from '@koa/runtime-client';
import { bySize, now, percentile, seconds, stallMs, type BenchContext, type Sample, type Suite } from '../harness';
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
 *
 * Per-hop breakdown (extra figures, not part of the ratio): a read-only {@link ChainProbe} on the
 * stack's nats-server timestamps every append of the Case's events, every delivery to and ack by
 * each durable consumer, the notice, and the pack read out of `koa-packs`; each round reports the
 * p50 of every segment of the sequential chain ({@link CHAIN}: `seg NN …`, ms), the p50 time of
 * every milestone after the POST (`at …`, ms) and the number of consumer hops (`hops`).
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

/**
 * A read-only observer of the chain on the stack's private nats-server (core NATS subscriptions,
 * nothing acked or published): when each event of a Case is appended (`koa.evt.>`), when each
 * durable consumer is handed it (the pull delivery to the consumer's `_INBOX`, recognised by its
 * `$JS.ACK.<stream>.<consumer>.…` reply subject) and when it acks it, and when the notice reaches
 * `koa.release.>` and the runtime client's feed. Times are arrival times in the bench process,
 * relative to the start of the `POST` — what lets the suite say where the trigger ⇒ activation
 * time goes, hop by hop.
 */
class ChainProbe {
  private readonly marks = new Map<string, Array<{ t: bigint; key: string }>>();
  /** `<stream>.<seq>` ⇒ what was delivered under that sequence (acks name only the sequence) */
  private readonly delivered = new Map<string, { corr: string; label: string }>();
  private readonly subs: Subscription[] = [];
  /** object-store traffic of `koa-packs` (no Case id on it): attributed to a Case by time, in `take` */
  private readonly packReads: Array<{ t: bigint; kind: 'lookup' | 'bytes' }> = [];

  private constructor(private readonly nc: NatsConnection) {}

  static async start(url: string, durables: readonly string[]): Promise<ChainProbe> {
    const probe = new ChainProbe(await connect({ servers: url, noAsyncTraces: true, name: 'bench-chain-probe' }));
    const known = new Set(durables);
    const consumerName = (stream: string, name: string): string => (known.has(name) ? name : stream === 'KOA_RELEASES' ? 'client' : 'read');
    probe.listen('koa.evt.>', (m, t) => {
      const e = labelOf(m.data);
      if (e) probe.mark(e.corr, `pub ${e.label}`, t);
    });
    probe.listen('koa.release.>', (m, t) => {
      const corr = noticeCaseId(m.data);
      if (corr) probe.mark(corr, 'pub notice', t);
    });
    // konnaxion-release reading a pack from `koa-packs`: the object's info (a JetStream API get) and its chunks
    probe.listen('$JS.API.>', (m, t) => {
      if (m.subject.includes(`.${PACKS_STREAM}`)) probe.packReads.push({ t, kind: 'lookup' });
    });
    probe.listen('_INBOX.>', (m, t) => {
      const ack = m.reply ? parseAckSubject(m.reply) : undefined;
      if (ack?.stream === PACKS_STREAM) probe.packReads.push({ t, kind: 'bytes' });
      if (!ack || (ack.stream !== 'KOA_EVENTS' && ack.stream !== 'KOA_RELEASES')) return;
      const e = ack.stream === 'KOA_RELEASES' ? { corr: noticeCaseId(m.data), label: 'notice' } : labelOf(m.data);
      if (!e?.corr) return;
      probe.delivered.set(`${ack.stream}.${ack.seq}`, { corr: e.corr, label: e.label });
      probe.mark(e.corr, `dlv ${consumerName(ack.stream, ack.consumer)} ${e.label}`, t);
    });
    probe.listen('$JS.ACK.>', (m, t) => {
      const body = m.data.length === 0 ? '+ACK' : Buffer.from(m.data).toString('utf8');
      if (!body.startsWith('+ACK')) return; // progress (+WPI), nak, term
      const ack = parseAckSubject(m.subject);
      const e = ack && probe.delivered.get(`${ack.stream}.${ack.seq}`);
      if (ack && e) probe.mark(e.corr, `ack ${consumerName(ack.stream, ack.consumer)} ${e.label}`, t);
    });
    await probe.nc.flush();
    return probe;
  }

  private listen(subject: string, on: (m: Msg, t: bigint) => void): void {
    this.subs.push(this.nc.subscribe(subject, { callback: (err, m) => (err ? undefined : on(m, now())) }));
  }

  /** records a milestone of the Case `corr` (the first time only: redeliveries keep the first) */
  mark(corr: string, key: string, t: bigint = now()): void {
    let list = this.marks.get(corr);
    if (!list) this.marks.set(corr, (list = []));
    if (!list.some((x) => x.key === key)) list.push({ t, key });
  }

  /**
   * The milestones of one Case in ms after `t0`, and forgets them. The pack download of the
   * operation is the first `koa-packs` lookup and chunk after its notice reached the client (the
   * suite runs one operation at a time).
   */
  take(corr: string, t0: bigint): Map<string, number> {
    const list = this.marks.get(corr) ?? [];
    this.marks.delete(corr);
    const notice = list.find((x) => x.key === 'dlv client notice')?.t;
    const done = list.find((x) => x.key === 'activated')?.t;
    if (notice !== undefined && done !== undefined) {
      for (const kind of ['lookup', 'bytes'] as const) {
        const hit = this.packReads.find((r) => r.kind === kind && r.t > notice && r.t < done);
        if (hit) list.push({ t: hit.t, key: `srv packs ${kind}` });
      }
    }
    return new Map(list.map((x) => [x.key, Number(x.t - t0) / 1e6]));
  }

  /** flushes what the server already sent (so late acks of a finished operation are in) */
  async settle(): Promise<void> {
    await this.nc.flush();
  }

  async close(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    await this.nc.close().catch(() => undefined);
  }
}

/** the object store the packs are served from (`OBJECT_STORES.packs`) */
const PACKS_STREAM = `OBJ_${OBJECT_STORES.packs.bucket}`;

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ns>.<pending>` (nats-server 2.9 form) */
function parseAckSubject(subject: string): { stream: string; consumer: string; seq: number } | undefined {
  const t = subject.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK') return undefined;
  // the 2.10+ form adds <domain>.<account hash> after ACK and a token at the end
  const [stream, consumer, , seq] = t.length >= 12 ? t.slice(4) : t.slice(2);
  return stream && consumer && seq ? { stream, consumer, seq: Number(seq) } : undefined;
}

/** `case.opened`, `task.requested:build`, `stage.completed:compile`, …, and the Case it belongs to */
function labelOf(data: Uint8Array): { corr: string; label: string } | undefined {
  try {
    const e = JSON.parse(Buffer.from(data).toString('utf8')) as { type?: string; correlationid?: string; data?: { params?: { kind?: string }; kind?: string; stage?: string } };
    if (typeof e.type !== 'string' || typeof e.correlationid !== 'string') return undefined;
    const base = e.type.replace(/^io\.koa\.[a-z]+\./, '').replace(/\.v\d+$/, '');
    const q = e.data?.params?.kind ?? e.data?.kind ?? e.data?.stage;
    return { corr: e.correlationid, label: q ? `${base}:${q}` : base };
  } catch {
    return undefined;
  }
}

/** the `caseId` claim of a compact-JWS release notice (read, not verified: it only labels a timing) */
function noticeCaseId(data: Uint8Array): string | undefined {
  try {
    const claims = JSON.parse(Buffer.from(Buffer.from(data).toString('utf8').split('.')[1] ?? '', 'base64url').toString('utf8')) as { caseId?: unknown };
    return typeof claims.caseId === 'string' ? claims.caseId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The sequential chain, milestone by milestone: each segment is the time from the previous
 * milestone to this one. "hop" segments are deliveries by a durable pull consumer (or the
 * client's feed); the others are work inside one service.
 */
const CHAIN: ReadonlyArray<readonly [segment: string, milestone: string | readonly string[], short: string, optional?: 'optional']> = [
  ['orgo: POST ⇒ CaseOpened appended', 'pub case.opened', 'orgo-open'],
  ['orgo: ⇒ TaskRequested(build) appended', 'pub task.requested:build', 'orgo-task'],
  ['hop 1 orgo ⇒ pipeline-worker (delivery)', 'dlv pipeline-worker task.requested:build', 'HOP1'],
  ['pipeline: ⇒ BuildStarted appended', 'pub build.started', 'build-start'],
  ['pipeline: inputs + build + store pack ⇒ PackCompiled appended', 'pub pack.compiled', 'build'],
  // orgo-control's outcomes durable (one durable on `koa.evt.>` before issue 4's split)
  ['hop 2 pipeline-worker ⇒ orgo (delivery)', ['dlv orgo-control-builds pack.compiled', 'dlv orgo-control pack.compiled'], 'HOP2'],
  ['orgo: ⇒ TaskRequested(release) appended', 'pub task.requested:release', 'orgo-outcome'],
  ['hop 3 orgo ⇒ konnaxion-release (delivery)', 'dlv konnaxion-release task.requested:release', 'HOP3'],
  ['release: facts + verify ⇒ ReleaseVerified appended', 'pub release.verified', 'verify'],
  ['release: ⇒ ChannelAdvanced appended', 'pub channel.advanced', 'advance'],
  ['release: sign ⇒ ReleaseActivated appended', 'pub release.activated', 'sign'],
  ['release: ⇒ notice published', 'pub notice', 'publish'],
  ['hop 4 konnaxion-release ⇒ client (notice delivered)', 'dlv client notice', 'HOP4'],
  // absent when konnaxion-release answers the download from the pack it just verified (no store read)
  ['client: verify notice + GET ⇒ release looks the pack up in koa-packs', 'srv packs lookup', 'get', 'optional'],
  ['release: ⇒ first pack bytes out of koa-packs', 'srv packs bytes', 'store', 'optional'],
  ['client: download + verify + persist ⇒ activated', 'activated', 'client'],
];
const segmentKey = (i: number): string => `seg ${String(i + 1).padStart(2, '0')} ${CHAIN[i][0]}`;
/** consumer deliveries on the sequential path (the "hop" segments above) */
const CHAIN_HOPS = CHAIN.filter(([s]) => s.startsWith('hop ')).length;

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
let probe: ChainProbe | undefined;
/** the durable consumers of the stack (named in the probe's figures; other consumers are reads) */
const DURABLES = ['orgo-control', 'orgo-control-cases', 'orgo-control-builds', 'orgo-control-releases', 'pipeline-worker', 'konnaxion-release', 'konnaxion-release-channels', 'audit-ledger', 'ingest-gateway-snapshots'];

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
    probe = await ChainProbe.start(stack.nats.url, DURABLES);

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
    const started: bigint[] = [];
    const t0 = now();
    for (let i = 0; i < n; i++) {
      const root = roots[nextRoot++];
      if (!root) throw new Error('trigger-activation: ran out of prepared snapshot sets');
      const version = lastActivated + 1;
      let activatedAt = 0n;
      const activated = new Promise<void>((resolve) => waiters.set(version, () => ((activatedAt = now()), resolve())));
      const t = now();
      const { status, view } = await chain!.trigger(TENANT, { snapshotSetRoot: root, env: ENV, channel: CHANNEL, reason: `bench round ${round} op ${i}`, idempotencyKey: `bench-${round}-${i}-${root.slice(7, 19)}` });
      if (status !== 201) problems.push(`trigger answered ${status}`);
      cases.push(view.caseId);
      probe!.mark(view.caseId, 'POST answered');
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), stallMs(ctx)).unref());
      if ((await Promise.race([activated.then(() => 'ok' as const), timeout])) === 'timeout') {
        const v = await chain!.getCase(TENANT, view.caseId).catch(() => undefined);
        throw new Error(`trigger-activation: version ${version} not activated within ${stallMs(ctx) / 1000} s (case ${view.caseId} ${v?.phase ?? '?'} ${v?.code ?? ''} ${v?.message ?? ''})`);
      }
      lat.push(Number(now() - t) / 1e6);
      waiters.delete(version);
      probe!.mark(view.caseId, 'activated', activatedAt);
      started.push(t);
    }
    const s = seconds(t0);
    // the Cases closed succeeded, and the consumer is active on the channel's current version
    const closed = await Promise.all(cases.map((c) => chain!.waitClosed(TENANT, c, 60_000)));
    // the per-hop timelines (unmeasured; the acks and reports of the last operation are in by now)
    await probe!.settle();
    const breakdown = chainBreakdown(cases.map((c, i) => probe!.take(c, started[i])));
    ctx.log(`    round ${round} per segment, p50 ms: ${CHAIN.map(([, , short], i) => `${short} ${fmtMs(breakdown.extra[segmentKey(i)])}`).join(' · ')}${breakdown.missing.length ? ` (missing: ${breakdown.missing.join(', ')})` : ''}`);
    const st = client!.status();
    // the channel status is konnaxion-release's read model (eventually consistent): give it time to catch up with the client, then compare
    const channel = await eventually(async () => {
      const c = await chain!.channel(TENANT, ENV, CHANNEL);
      return c.version >= (st.version ?? 0) ? c : false;
    }, { timeoutMs: 30_000, intervalMs: 50, what: 'channel status at the consumer version' })
      .then((c) => c || chain!.channel(TENANT, ENV, CHANNEL))
      .catch(() => chain!.channel(TENANT, ENV, CHANNEL)); // still behind: the comparison below reports it
    const ok = problems.length === 0 && closed.every((c) => c.outcome === 'succeeded') && st.state === 'active' && st.version === channel.version && st.packDigest === channel.packDigest;
    return {
      work: n,
      seconds: s,
      latenciesMs: lat,
      extra: breakdown.extra,
      check: { ok, detail: `activated ${lat.length}/${n}, cases succeeded ${closed.filter((c) => c.outcome === 'succeeded').length}/${n}, consumer ${st.state} v${st.version} = channel v${channel.version}${problems.length ? `; ${problems[0]}` : ''}` },
    };
  },
  async teardown() {
    await probe?.close();
    probe = undefined;
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

const fmtMs = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(v < 10 ? 2 : 1));

/**
 * Per-round figures from the timelines of the round's operations: the p50 of each chain segment
 * (`seg NN <segment>`, ms), the p50 time of every milestone seen (`at <milestone>`, ms after the
 * POST: consumer deliveries and acks off the sequential path too) and the number of consumer hops.
 */
function chainBreakdown(timelines: ReadonlyArray<Map<string, number>>): { extra: Record<string, number>; missing: string[] } {
  const extra: Record<string, number> = { hops: CHAIN_HOPS };
  const missing = new Set<string>();
  const at = (tl: Map<string, number>, milestone: string | readonly string[]): number | undefined =>
    (typeof milestone === 'string' ? [milestone] : milestone).map((m) => tl.get(m)).find((v) => v !== undefined);
  CHAIN.forEach(([, milestone, , optional], i) => {
    const values = timelines.flatMap((tl) => {
      const end = at(tl, milestone);
      if (end === undefined) {
        if (!optional) missing.add(typeof milestone === 'string' ? milestone : milestone[0]);
        return [];
      }
      // from the latest earlier milestone seen (0 = the POST)
      const start = CHAIN.slice(0, i).map(([, m]) => at(tl, m)).filter((v): v is number => v !== undefined).pop() ?? 0;
      return [end - start];
    });
    extra[segmentKey(i)] = percentile(values, 50);
  });
  const keys = new Set(timelines.flatMap((tl) => [...tl.keys()]));
  const medians = [...keys].map((k) => [k, percentile(timelines.flatMap((tl) => (tl.has(k) ? [tl.get(k)!] : [])), 50)] as const).sort((a, b) => a[1] - b[1]);
  for (const [k, v] of medians) extra[`at ${k}`] = v;
  return { extra, missing: [...missing] };
}
