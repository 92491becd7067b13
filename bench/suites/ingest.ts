import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm, setSha256Backend, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/nats-core';
import { createEvent, objectNameFor, OBJECT_STORES, SnapshotCaptured, STREAMS, subjectOf, subjects } from '@koa/contracts';
import { Messaging } from '@koa/platform/messaging';
import { eventually } from '@koa/platform/testing';
import { bySize, median, now, seconds, stallMs, type BenchContext, type Sample, type Suite } from '../harness';
import { onAbort, pipelined, prng, resetPeakRss, startSuiteStack, vmHwmBytes, vmRssBytes, words, type SuiteStack } from './common';

/**
 * ingest: ingest-gateway (a real process) capturing documents — stream in, sha256, store once in
 * `koa-snapshots`, append `SnapshotCaptured` with optimistic concurrency (dedupe without a time
 * limit) — against the raw floor of the same work written directly with nats.js: sha256 +
 * object-store put + publish of the event. The anchor runs on the bench's nats-server, the
 * gateway on a private one (same binary, same machine), so neither sees the other's traffic.
 */
const TENANT = 'bench';
const SOURCE = 'docs';
const MiB = 1024 * 1024;
/** requests in flight (HTTP) / messages in flight (NATS) on both sides */
const WINDOW = 16;

/** one gateway process serves both ingest suites; stopped after the last large variant (or at the end of the run) */
let stack: SuiteStack | undefined;
let gwNc: NatsConnection | undefined;
let gwMessaging: Messaging | undefined;
let anchorNc: NatsConnection | undefined;
let anchorStore: ObjectStore | undefined;
let docCounter = 0;
/**
 * The HTTP client of the small uploads: node:http with keep-alive, one connection per request in
 * flight. The bench process is the gateway's client on the same 2 cores; `fetch` (undici) costs
 * about twice the client CPU per ~1 KiB request (measured: ≈230 vs ≈115 µs per request, client +
 * a trivial server), CPU the anchor — whose client is nats.js in this process — never pays.
 * Streamed (large) uploads still use `fetch`. Destroyed in `release`.
 */
let httpAgent: Agent | undefined;

async function acquire(ctx: BenchContext): Promise<void> {
  if (stack) return;
  stack = await startSuiteStack(ctx, 'bench_ingest', ['ingest-gateway'], { serviceEnv: { 'ingest-gateway': { MAX_INGEST_BYTES: String(128 * MiB) } } });
  gwNc = await connect({ servers: stack.nats.url, noAsyncTraces: true });
  gwMessaging = await Messaging.connect({ url: stack.nats.url, name: 'bench-ingest-observer' });
  anchorNc = await connect({ servers: ctx.natsUrl, noAsyncTraces: true });
  const m = await Messaging.connect({ url: ctx.natsUrl, name: 'bench-ingest-topology' });
  await m.ensureTopology();
  await m.close();
  // the raw engine at its best: node's native SHA-256 for object-store chunk digests (nats.js
  // defaults to a pure-JS one, ~5× slower on large objects; process-wide, so bench-side only)
  await setSha256Backend('native');
  anchorStore = await new Objm(anchorNc).open(OBJECT_STORES.snapshots.bucket);
  onAbort(release);
  await warmUp(ctx);
}

/**
 * Unmeasured warm-up of both sides once per stack (start-up is not measured, as for compile's
 * warm-up build): the JIT, the gateway's lazy state (database pool connections, the object-store
 * handle, the spool directory, the consumers' first pulls) and the anchor's — small documents
 * over HTTP and NATS, one streamed upload, each checked to have been captured.
 */
async function warmUp(ctx: BenchContext): Promise<void> {
  const n = bySize(ctx, { smoke: 32, quick: 200, full: 200 });
  await pipelined(smallDocs(n), WINDOW, anchorCapture);
  const before = await eventCount(gwNc!);
  const answers = await pipelined(smallDocs(n), WINDOW, (d) => upload(d, 'application/json'));
  const bad = answers.find((a) => a.status !== 201);
  if (bad) throw new Error(`ingest warm-up: an upload was answered ${bad.status} ${bad.code ?? ''}`);
  const js = jetstream(gwNc!);
  await pipelined(smallDocs(n), WINDOW, (d, i) => js.publish(subjects.ingest(TENANT, SOURCE), inboundMessage(d, `warm-${docCounter}-${i}`, i), { msgID: `warm-${docCounter}-${i}` }));
  const large = await upload(docStream(2 * MiB, ++seedCounter), 'application/octet-stream');
  if (large.status !== 201) throw new Error(`ingest warm-up: a streamed upload was answered ${large.status} ${large.code ?? ''}`);
  await eventually(async () => (await eventCount(gwNc!)) - before >= 2 * n + 1, { timeoutMs: stallMs(ctx), intervalMs: 20, what: `${2 * n + 1} warm-up SnapshotCaptured events` });
}

/** An `io.koa.ingest.content.v1` message carrying `d` inline. */
function inboundMessage(d: Uint8Array, id: string, i: number): Uint8Array {
  const msg = { specversion: '1.0', id, source: SOURCE, type: 'io.koa.ingest.content.v1', actor: 'webhook:docs', data: { encoding: 'utf8', content: new TextDecoder().decode(d), mediaType: 'application/json', sourceRef: `doc-${i}` } };
  return new TextEncoder().encode(JSON.stringify(msg));
}

async function release(): Promise<void> {
  httpAgent?.destroy();
  httpAgent = undefined;
  await gwMessaging?.close().catch(() => undefined);
  await gwNc?.close().catch(() => undefined);
  await anchorNc?.close().catch(() => undefined);
  await stack?.stop();
  stack = undefined;
  gwNc = undefined;
  gwMessaging = undefined;
  anchorNc = undefined;
}

async function eventCount(nc: NatsConnection): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(STREAMS.events.name)).state.messages;
}

const gatewayUrl = (): string => stack!.stack.services['ingest-gateway']!.url;
const gatewayPid = (): number => stack!.stack.services['ingest-gateway']!.pid;

/** ~1 KiB JSON documents, each unique (so nothing is deduplicated). */
function smallDocs(n: number): Uint8Array[] {
  const rand = prng(++docCounter * 104729);
  return Array.from({ length: n }, (_, i) => new TextEncoder().encode(JSON.stringify({ id: `doc-${docCounter}-${i}`, type: 'faq', title: words(rand, 6), text: words(rand, 150) }).slice(0, 1024).padEnd(1024, ' ')));
}

/** The raw anchor for one document: sha256, put, publish the event — no dedupe lookup, no validation. */
async function anchorCapture(bytes: Uint8Array, i: number): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const name = objectNameFor(TENANT, digest);
  await anchorStore!.put({ name }, readableOf(bytes));
  const e = createEvent(SnapshotCaptured, {
    id: `anchor-${docCounter}-${i}`, time: new Date().toISOString(), source: 'ingest-gateway', tenant: TENANT, aggregateId: digest.slice(7), actor: 'user:bench',
    data: { digest: digest as `sha256:${string}`, size: bytes.byteLength, mediaType: 'application/json', source: SOURCE, objectName: name, provenance: { adapter: { name: 'http-upload', version: '1' }, sourceRef: `doc-${i}`, capturedAt: new Date().toISOString() } },
  });
  const ack = await jetstream(anchorNc!).publish(subjectOf(e), new TextEncoder().encode(JSON.stringify(e)), { msgID: `${e.source}#${e.id}`, expect: { lastSubjectSequence: 0 } });
  if (ack.duplicate) throw new Error('anchor: duplicate');
  return digest;
}

function readableOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => { c.enqueue(bytes); c.close(); } });
}

/** POST of an in-memory body over the keep-alive agent; answers the status and the JSON body. */
function post(url: string, body: Uint8Array, headers: Record<string, string>): Promise<{ status: number; json: unknown }> {
  httpAgent ??= new Agent({ keepAlive: true, maxSockets: WINDOW });
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: httpAgent, headers: { ...headers, 'content-length': String(body.byteLength) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function upload(body: Uint8Array | ReadableStream<Uint8Array>, contentType: string, length?: number): Promise<{ status: number; digest?: string; size?: number; code?: string }> {
  const url = `${gatewayUrl()}/v1/tenants/${TENANT}/sources/${SOURCE}/snapshots`;
  const headers = { 'content-type': contentType, 'x-koa-actor': 'user:bench', 'x-koa-source-ref': 'bench' };
  if (body instanceof Uint8Array) {
    const { status, json } = await post(url, body, headers);
    return { status, ...(json as { digest?: string; size?: number; code?: string }) };
  }
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...headers, ...(length !== undefined && { 'content-length': String(length) }) },
    body,
    ...(body instanceof ReadableStream && { duplex: 'half' }),
  } as RequestInit);
  const json = (await res.json()) as { digest?: string; size?: number; code?: string };
  return { status: res.status, ...json };
}

// ---- small documents -------------------------------------------------------------------------

const smallCount = (ctx: BenchContext): number => bySize(ctx, { smoke: 100, quick: 1_000, full: 3_000 });

export const ingestSmall: Suite = {
  name: 'ingest-small',
  anchorText: 'sha256 + object-store put + publish SnapshotCaptured (nats.js, native SHA-256 backend, 16 in flight)',
  oursText: 'ingest-gateway process: HTTP upload (16 requests in flight, keep-alive node:http client) or NATS inbound message (16 in flight), ~1 KiB JSON each',
  metric: { kind: 'throughput', unit: 'docs/s' },
  goal: { text: '≥ 0.5×', min: 0.5 },
  variants: () => ['http', 'nats'],
  setup: (ctx) => acquire(ctx),
  async anchor(ctx): Promise<Sample> {
    const docs = smallDocs(smallCount(ctx));
    const before = await eventCount(anchorNc!);
    const t = now();
    const digests = await pipelined(docs, WINDOW, anchorCapture);
    const s = seconds(t);
    const stored = (await eventCount(anchorNc!)) - before;
    const distinct = new Set(digests).size;
    return { work: docs.length, seconds: s, check: { ok: stored === docs.length && distinct === docs.length, detail: `events ${stored}/${docs.length}, distinct digests ${distinct}` } };
  },
  async ours(ctx, variant): Promise<Sample> {
    const docs = smallDocs(smallCount(ctx));
    const expected = new Set(docs.map((d) => `sha256:${createHash('sha256').update(d).digest('hex')}`));
    const before = await eventCount(gwNc!);
    const t = now();
    let answers: Array<{ status: number; digest?: string; code?: string }> = [];
    if (variant === 'http') {
      answers = await pipelined(docs, WINDOW, (d) => upload(d, 'application/json'));
    } else {
      const js = jetstream(gwNc!);
      await pipelined(docs, WINDOW, (d, i) => js.publish(subjects.ingest(TENANT, SOURCE), inboundMessage(d, `in-${docCounter}-${i}`, i), { msgID: `in-${docCounter}-${i}` }));
    }
    // captured = SnapshotCaptured stored for every document (the gateway appends after the put)
    await eventually(async () => (await eventCount(gwNc!)) - before >= docs.length, { timeoutMs: stallMs(ctx), intervalMs: 20, what: `${docs.length} SnapshotCaptured events` });
    const s = seconds(t);
    const stored = (await eventCount(gwNc!)) - before;
    // every digest is recorded as captured (first capture) in the log
    const sample = [...expected].filter((_, i) => i % Math.max(1, Math.floor(docs.length / 20)) === 0);
    const recorded = await Promise.all(sample.map(async (d) => (await gwMessaging!.readAggregate(TENANT, 'snapshot', d.slice(7))).events.filter((e) => e.type === SnapshotCaptured.type).length));
    const okHttp = variant !== 'http' || (answers.every((a) => a.status === 201) && answers.every((a) => a.digest !== undefined && expected.has(a.digest)) && new Set(answers.map((a) => a.digest)).size === docs.length);
    const ok = okHttp && stored === docs.length && recorded.every((n) => n === 1);
    const bad = answers.find((a) => a.status !== 201);
    return { work: docs.length, seconds: s, check: { ok, detail: `events ${stored}/${docs.length}, sampled digests recorded once ${recorded.filter((n) => n === 1).length}/${sample.length}${variant === 'http' ? `, 201s ${answers.filter((a) => a.status === 201).length}` : ''}${bad ? `; e.g. ${bad.status} ${bad.code}` : ''}` } };
  },
};

// ---- large documents -------------------------------------------------------------------------

const largeVariants = (ctx: BenchContext): string[] => bySize(ctx, { smoke: ['4 MiB'], quick: ['16 MiB', '32 MiB'], full: ['16 MiB', '64 MiB'] });
const bytesOf = (variant: string): number => Number(/^(\d+) MiB$/.exec(variant)?.[1] ?? NaN) * MiB;
const CHUNK = 64 * 1024;

/** A deterministic stream of `size` bytes unique to `seed` (no buffer of the whole document). */
function docStream(size: number, seed: number): ReadableStream<Uint8Array> {
  let sent = 0;
  const base = Buffer.alloc(CHUNK);
  const rand = prng(seed);
  for (let i = 0; i < CHUNK; i += 4) base.writeUInt32LE(Math.floor(rand() * 0xffffffff), i);
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= size) {
        c.close();
        return;
      }
      const n = Math.min(CHUNK, size - sent);
      const chunk = Buffer.from(base.subarray(0, n));
      chunk.writeUInt32LE(seed, 0);
      chunk.writeUInt32LE(sent / CHUNK, 4);
      sent += n;
      c.enqueue(chunk);
    },
  });
}

async function digestOfStream(stream: ReadableStream<Uint8Array>): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) h.update(chunk);
  return `sha256:${h.digest('hex')}`;
}

/** Tees a stream through sha256 (the anchor hashes while it stores). */
function hashing(stream: ReadableStream<Uint8Array>, h: ReturnType<typeof createHash>): ReadableStream<Uint8Array> {
  return stream.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ transform: (chunk, c) => { h.update(chunk); c.enqueue(chunk); } }));
}

let seedCounter = 1;

export const ingestLarge: Suite = {
  name: 'ingest-large',
  anchorText: 'streamed sha256 + object-store put of a stream (nats.js, native SHA-256 backend)',
  oursText: 'ingest-gateway process: HTTP upload of a streamed body (chunked), digest while reading, store, SnapshotCaptured',
  metric: { kind: 'throughput', unit: 'MiB/s' },
  goal: { text: '≥ 0.7× in MiB/s; gateway peak RSS independent of size', min: 0.7 },
  variants: largeVariants,
  /**
   * Bounded memory: the gateway's RSS growth during an upload (median over rounds) stays below
   * a quarter of the document plus 8 MiB of buffers. A gateway that holds the whole document
   * grows by at least its size.
   */
  extraGoal(pairs, variant) {
    const growth = median(pairs.map((p) => p.ours.extra?.['gatewayRssGrowthMiB'] ?? NaN));
    const bound = bytesOf(variant) / MiB / 4 + 8;
    const met = growth <= bound;
    return { met, text: `RSS goal ${met ? 'met' : 'MISSED'}: gateway +${growth.toFixed(0)} MiB for a ${bytesOf(variant) / MiB} MiB document, bound ${bound.toFixed(0)} MiB` };
  },
  setup: (ctx) => acquire(ctx),
  async anchor(_ctx, variant): Promise<Sample> {
    const size = bytesOf(variant);
    const seed = ++seedCounter;
    const expected = await digestOfStream(docStream(size, seed));
    const h = createHash('sha256');
    const t = now();
    const info = await anchorStore!.put({ name: `${TENANT}/large-${seed}` }, hashing(docStream(size, seed), h));
    const digest = `sha256:${h.digest('hex')}`;
    const s = seconds(t);
    await anchorStore!.delete(`${TENANT}/large-${seed}`);
    return { work: size / MiB, seconds: s, check: { ok: digest === expected && info.size === size, detail: `stored ${info.size}/${size} bytes, digest ${digest === expected ? 'right' : 'WRONG'}` } };
  },
  async ours(_ctx, variant): Promise<Sample> {
    const size = bytesOf(variant);
    const seed = ++seedCounter;
    const expected = await digestOfStream(docStream(size, seed));
    const pid = gatewayPid();
    const reset = resetPeakRss(pid);
    const baseline = vmRssBytes(pid) ?? NaN;
    const t = now();
    const answer = await upload(docStream(size, seed), 'application/octet-stream');
    const s = seconds(t);
    const peak = vmHwmBytes(pid);
    const blobs = await gwMessaging!.blobs(OBJECT_STORES.snapshots.bucket);
    const stored = await blobs.info(objectNameFor(TENANT, expected));
    const ok = answer.status === 201 && answer.digest === expected && answer.size === size && stored?.size === size;
    return {
      work: size / MiB,
      seconds: s,
      ...(peak !== undefined && { peakRssBytes: peak }),
      // growth = the round's peak minus the RSS just before the upload (the peak was reset to it)
      extra: { gatewayPeakRssMiB: (peak ?? NaN) / MiB, gatewayRssGrowthMiB: ((peak ?? NaN) - baseline) / MiB, peakResetPerRound: reset ? 1 : 0, documentMiB: size / MiB },
      check: { ok, detail: `answer ${answer.status}${answer.code ? ` ${answer.code}` : ''}, digest ${answer.digest === expected ? 'right' : 'WRONG'}, stored ${stored?.size ?? 0}/${size} bytes` },
    };
  },
  async teardown(ctx, variant) {
    const all = largeVariants(ctx);
    if (variant === all[all.length - 1]) await release();
  },
};
