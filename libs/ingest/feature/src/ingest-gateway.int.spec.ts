import 'reflect-metadata';
import { KoaRefusal, OBJECT_STORES, STREAMS, digestHex, objectNameFor, sha256Digest, subjects, type AnyKoaEvent } from '@koa/contracts';
import { inboundAttemptId } from '@koa/ingest/domain';
import { KoaEventContext, Messaging, type RawMessage } from '@koa/platform/messaging';
import { createServiceApp, type ServiceApp } from '@koa/platform/service';
import { PrivateNatsServer, createThrowAwayDatabase, eventually, freePort, uniqueName, type ThrowAwayDatabase } from '@koa/platform/testing';
import {
  DEFAULT_INBOUND_CONCURRENCY,
  INBOUND_BATCH,
  INGEST_CONFIG_SCHEMA,
  INGEST_CONSUMERS,
  INGEST_INBOUND_DURABLE,
  INGEST_DB_SCHEMA,
  INGEST_ENTITIES,
  INGEST_MIGRATIONS,
  IngestEventsController,
  IngestFeatureModule,
  SnapshotService,
  type IngestConfig,
} from '@koa/ingest/feature';

const MAX = 64 * 1024;
type Body = RequestInit['body'];
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON responses asserted with toMatchObject
type Json = any;
const json = async (res: Response): Promise<Json> => res.json();
const NOW = '2026-03-01T10:00:00.000Z';

describe('ingest-gateway (real NATS + Postgres, through the Nest app)', () => {
  let nats: PrivateNatsServer;
  let db: ThrowAwayDatabase;
  let service: ServiceApp<IngestConfig>;
  let client: Messaging;
  let base: string;
  const tenant = uniqueName('acme');

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    db = await createThrowAwayDatabase('koa_ingest_feat');
    service = await createServiceApp(
      { name: 'ingest-gateway', schema: INGEST_CONFIG_SCHEMA, module: IngestFeatureModule, consumers: INGEST_CONSUMERS, dbSchema: INGEST_DB_SCHEMA, entities: INGEST_ENTITIES, migrations: INGEST_MIGRATIONS, defaultHttpPort: 8081 },
      {
        env: { NATS_URL: nats.url, DATABASE_URL: db.url, HTTP_PORT: String(await freePort()), HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'silent', MAX_INGEST_BYTES: String(MAX) },
        clock: { now: () => new Date(NOW) },
      },
    );
    base = await service.listen();
    client = await Messaging.connect({ url: nats.url, name: 'ingest-test' });
  });

  afterAll(async () => {
    await client?.close();
    await service?.close();
    await nats?.dispose();
    await db?.drop();
  });

  const upload = (body: Body, headers: Record<string, string>, source = 'docs', init: RequestInit = {}) =>
    fetch(`${base}/v1/tenants/${tenant}/sources/${source}/snapshots`, { method: 'POST', body, headers: { 'x-koa-actor': 'user:alice', ...headers }, ...init });
  const events = async (aggregate: 'snapshot' | 'snapshotset' | 'ingest', id: string): Promise<AnyKoaEvent[]> => (await client.readAggregate(tenant, aggregate, id)).events;
  const object = async (digest: string) => (await client.blobs(OBJECT_STORES.snapshots.bucket)).info(objectNameFor(tenant, digest));
  const expectNothingStored = async (digest: string) => {
    expect(await object(digest)).toBeUndefined();
    expect(await events('snapshot', digestHex(digest))).toEqual([]);
  };

  it('upload ⇒ 201, the object stored once under <tenant>/<hex>, one SnapshotCaptured with provenance', async () => {
    const text = 'hello kOA\n';
    const res = await upload(text, { 'content-type': 'text/plain; charset=utf-8', 'x-koa-reason': 'seed corpus', 'x-koa-source-ref': 'hello.txt', etag: '"v1"' });
    expect(res.status).toBe(201);
    const digest = sha256Digest(text);
    expect(await json(res)).toEqual({ digest, size: 10, mediaType: 'text/plain', duplicate: false });
    const blob = await (await client.blobs(OBJECT_STORES.snapshots.bucket)).get(objectNameFor(tenant, digest));
    expect(blob && Buffer.from(blob).toString()).toBe(text);
    const [captured, ...more] = await events('snapshot', digestHex(digest));
    expect(more).toEqual([]);
    expect(captured).toMatchObject({
      type: 'io.koa.ingest.snapshot.captured.v1',
      actor: 'user:alice',
      reason: 'seed corpus',
      time: NOW,
      data: {
        digest,
        size: 10,
        mediaType: 'text/plain',
        source: 'docs',
        objectName: objectNameFor(tenant, digest),
        provenance: { adapter: { name: 'http-upload', version: '1.0.0' }, sourceRef: 'hello.txt', capturedAt: NOW, validators: { etag: '"v1"' } },
      },
    });
  });

  it('the same bytes again ⇒ 200 duplicate: true, still one event (de-duplication has no window)', async () => {
    const res = await upload('hello kOA\n', { 'content-type': 'text/markdown', 'x-koa-actor': 'user:bob' });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ digest: sha256Digest('hello kOA\n'), size: 10, mediaType: 'text/plain', duplicate: true });
    expect(await events('snapshot', digestHex(sha256Digest('hello kOA\n')))).toHaveLength(1);
  });

  it('concurrent uploads of the same new bytes ⇒ exactly one 201, the others 200 duplicate, one event', async () => {
    const text = `race ${Date.now()}`;
    const results = await Promise.all(Array.from({ length: 5 }, () => upload(text, { 'content-type': 'text/plain' })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(await events('snapshot', digestHex(sha256Digest(text)))).toHaveLength(1);
  });

  it('staggered concurrent uploads of the same new bytes: each round one 201, four duplicates, one event, the right bytes stored', async () => {
    // staggered starts make later uploads meet the object an earlier one is storing (the reuse check and racing puts)
    for (let round = 0; round < 10; round++) {
      const text = `staggered ${round} ${Date.now()}`;
      const delayed = (k: number) => new Promise<void>((resolve) => setTimeout(resolve, k * 7 * (round % 5)));
      const results = await Promise.all(Array.from({ length: 5 }, (_, k) => delayed(k).then(() => upload(text, { 'content-type': 'text/plain' }))));
      expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
      expect(await events('snapshot', digestHex(sha256Digest(text)))).toHaveLength(1);
      const stored = await (await client.blobs(OBJECT_STORES.snapshots.bucket)).get(objectNameFor(tenant, sha256Digest(text)));
      expect(stored && Buffer.from(stored).toString()).toBe(text);
    }
  }, 60_000);

  it('an object already under the canonical name with the right size but other bytes is overwritten, never trusted', async () => {
    const text = 'the real content';
    const digest = sha256Digest(text);
    const blobs = await client.blobs(OBJECT_STORES.snapshots.bucket);
    await blobs.put(objectNameFor(tenant, digest), new Uint8Array(Buffer.from('X'.repeat(text.length))));
    const res = await upload(text, { 'content-type': 'text/plain' });
    expect(res.status).toBe(201);
    const stored = await blobs.get(objectNameFor(tenant, digest));
    expect(stored && Buffer.from(stored).toString()).toBe(text);
  });

  it('a leftover of an interrupted capture (the right bytes, no event) ⇒ the next upload records it once: 201, then duplicates', async () => {
    const text = `interrupted ${Date.now()}`;
    const digest = sha256Digest(text);
    const blobs = await client.blobs(OBJECT_STORES.snapshots.bucket);
    await blobs.put(objectNameFor(tenant, digest), new Uint8Array(Buffer.from(text)));
    expect(await events('snapshot', digestHex(digest))).toEqual([]);
    const first = await upload(text, { 'content-type': 'text/plain' });
    expect(first.status).toBe(201);
    expect((await upload(text, { 'content-type': 'text/plain' })).status).toBe(200);
    expect(await events('snapshot', digestHex(digest))).toHaveLength(1);
    const stored = await blobs.get(objectNameFor(tenant, digest));
    expect(stored && Buffer.from(stored).toString()).toBe(text);
  });

  it('a capture whose bytes do not hash to the digest it names ⇒ INTERNAL, no event (the object store\'s own digest is checked)', async () => {
    const snapshots = service.app.get(SnapshotService);
    const claimed = `claimed ${Date.now()}`;
    const other = new Uint8Array(Buffer.from(`swapped ${Date.now()}`.padEnd(claimed.length, '.').slice(0, claimed.length)));
    const request = { tenant, source: 'docs', mediaType: 'text/plain' as const, digest: sha256Digest(claimed), size: claimed.length, actor: 'user:alice', provenance: { adapter: { name: 'http-upload', version: '1.0.0' }, sourceRef: 'swap' } };
    // in memory, and streamed (a spool file whose bytes changed after they were hashed): same size, other bytes
    for (const bytes of [other, { open: () => new ReadableStream<Uint8Array>({ start: (c) => { c.enqueue(other); c.close(); } }) }]) {
      await expect(snapshots.capture({ ...request, bytes })).rejects.toMatchObject({ code: 'INTERNAL' });
      expect(await events('snapshot', digestHex(sha256Digest(claimed)))).toEqual([]);
    }
    // the right bytes afterwards are captured (the untrusted object is replaced)
    const ok = await snapshots.capture({ ...request, bytes: new Uint8Array(Buffer.from(claimed)) });
    expect(ok.duplicate).toBe(false);
    const stored = await (await client.blobs(OBJECT_STORES.snapshots.bucket)).get(objectNameFor(tenant, sha256Digest(claimed)));
    expect(stored && Buffer.from(stored).toString()).toBe(claimed);
  });

  it('hashes JSON uploads byte for byte (no body parser consumes or re-encodes them first)', async () => {
    const doc = `{ "items" :\n [${Array.from({ length: 3000 }, (_, i) => `{"n": ${i}}`).join(',\n')}] }`;
    expect(doc.length).toBeGreaterThan(30_000);
    const res = await upload(doc, { 'content-type': 'application/json' });
    expect(res.status).toBe(201);
    expect((await json(res)).digest).toBe(sha256Digest(doc));
  });

  it('oversize (declared) ⇒ 413 INGEST_TOO_LARGE and nothing stored', async () => {
    const big = Buffer.alloc(MAX + 1, 7);
    const res = await upload(big, { 'content-type': 'application/octet-stream' });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await json(res)).toMatchObject({ code: 'INGEST_TOO_LARGE' });
    await expectNothingStored(sha256Digest(big));
  });

  it('oversize while streaming (no Content-Length) ⇒ 413 INGEST_TOO_LARGE and nothing stored', async () => {
    const chunk = Buffer.alloc(16 * 1024, 9);
    const count = MAX / chunk.length + 2;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < count; i++) controller.enqueue(new Uint8Array(chunk));
        controller.close();
      },
    });
    const res = await upload(body as unknown as Body, { 'content-type': 'application/octet-stream' }, 'docs', { duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(await json(res)).toMatchObject({ code: 'INGEST_TOO_LARGE' });
    await expectNothingStored(sha256Digest(Buffer.concat(Array.from({ length: count }, () => chunk))));
  });

  it('empty ⇒ 400 INGEST_EMPTY and nothing stored', async () => {
    const res = await upload('', { 'content-type': 'text/plain' });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ code: 'INGEST_EMPTY' });
    await expectNothingStored(sha256Digest(''));
  });

  it.each([
    ['an unknown media type', { 'content-type': 'image/png' }, 'INGEST_MALFORMED', 'Content-Type'],
    ['no actor', { 'content-type': 'text/plain', 'x-koa-actor': '' }, 'INGEST_MALFORMED', 'X-Koa-Actor'],
    ['a malformed actor', { 'content-type': 'text/plain', 'x-koa-actor': 'alice' }, 'INGEST_MALFORMED', 'X-Koa-Actor'],
  ])('malformed (%s) ⇒ 400 with a code naming the field, nothing stored', async (_name, headers, code, field) => {
    const bytes = `malformed ${field} ${headers['content-type']}`;
    const res = await upload(bytes, headers);
    expect(res.status).toBe(400);
    const problem = await json(res);
    expect(problem).toMatchObject({ code });
    expect(problem.detail).toContain(field);
    await expectNothingStored(sha256Digest(bytes));
  });

  it('an invalid source token ⇒ 400 SUBJECT_TOKEN_INVALID', async () => {
    const res = await upload('x', { 'content-type': 'text/plain' }, 'bad.source');
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ code: 'SUBJECT_TOKEN_INVALID' });
  });

  it('GET a snapshot: metadata and provenance (404 SNAPSHOT_NOT_FOUND otherwise); listed once projected', async () => {
    const digest = sha256Digest('hello kOA\n');
    const res = await fetch(`${base}/v1/tenants/${tenant}/snapshots/${digestHex(digest)}`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ tenant, digest, size: 10, mediaType: 'text/plain', source: 'docs', actor: 'user:alice', provenance: { sourceRef: 'hello.txt' }, capturedAt: NOW });
    const missing = await fetch(`${base}/v1/tenants/${tenant}/snapshots/${digestHex(sha256Digest('never'))}`);
    expect(missing.status).toBe(404);
    expect(await json(missing)).toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
    await eventually(async () => {
      const list = await json(await fetch(`${base}/v1/tenants/${tenant}/snapshots?source=docs`));
      expect(list.items.map((i: { digest: string }) => i.digest)).toContain(digest);
    }, { what: 'snapshot projected into ingest.snapshots' });
  });

  describe('snapshot sets', () => {
    const seal = (body: unknown) =>
      fetch(`${base}/v1/tenants/${tenant}/snapshot-sets`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', 'x-koa-actor': 'user:alice' } });

    it('seals sorted unique digests under snapshotset/<root hex>, idempotently', async () => {
      await upload('second doc', { 'content-type': 'text/plain' });
      const a = sha256Digest('hello kOA\n');
      const b = sha256Digest('second doc');
      const first = await seal({ digests: [b, a, b], label: 'weekly' });
      expect(first.status).toBe(201);
      const sealed = await json(first);
      expect(sealed).toMatchObject({ digests: [a, b].sort(), label: 'weekly', duplicate: false });
      const again = await seal({ digests: [a, b] });
      expect(again.status).toBe(201);
      expect(await json(again)).toMatchObject({ root: sealed.root, duplicate: true });
      const recorded = await events('snapshotset', digestHex(sealed.root));
      expect(recorded).toHaveLength(1);
      expect(recorded[0]).toMatchObject({ type: 'io.koa.ingest.snapshotset.sealed.v1', data: { root: sealed.root, digests: [a, b].sort() } });
      const got = await fetch(`${base}/v1/tenants/${tenant}/snapshot-sets/${digestHex(sealed.root)}`);
      expect(await json(got)).toEqual({ root: sealed.root, digests: [a, b].sort(), label: 'weekly' });
    });

    it('refuses an empty set SNAPSHOT_SET_EMPTY and an uncaptured digest SNAPSHOT_NOT_FOUND naming it', async () => {
      const empty = await seal({ digests: [] });
      expect(empty.status).toBe(400);
      expect(await json(empty)).toMatchObject({ code: 'SNAPSHOT_SET_EMPTY' });
      const unknown = sha256Digest('not captured');
      const missing = await seal({ digests: [sha256Digest('hello kOA\n'), unknown] });
      expect(missing.status).toBe(404);
      const problem = await json(missing);
      expect(problem).toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
      expect(problem.detail).toContain(unknown);
    });

    it("refuses another tenant's snapshot SNAPSHOT_NOT_FOUND", async () => {
      const other = uniqueName('other');
      const res = await fetch(`${base}/v1/tenants/${other}/snapshot-sets`, { method: 'POST', body: JSON.stringify({ digests: [sha256Digest('hello kOA\n')] }), headers: { 'content-type': 'application/json', 'x-koa-actor': 'user:eve' } });
      expect(res.status).toBe(404);
      expect(await json(res)).toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
    });
  });

  describe('NATS inbound (koa.ingest.<tenant>.<source>)', () => {
    const publish = async (data: unknown, msgId: string, over: Record<string, unknown> = {}) => {
      const body = typeof data === 'string' ? data : JSON.stringify({ specversion: '1.0', id: msgId, source: 'feed-bot', type: 'io.koa.ingest.content.v1', data, ...over });
      return client.publish(subjects.ingest(tenant, 'feed'), new Uint8Array(Buffer.from(body)), { msgId });
    };
    const capturedBy = async (content: string) => {
      const [e] = await events('snapshot', digestHex(sha256Digest(content)));
      expect(e).toBeDefined();
      return e;
    };

    it('an inline message is captured with nats-publish provenance', async () => {
      await publish({ encoding: 'utf8', content: 'from the feed', mediaType: 'text/plain', sourceRef: 'feed/item/1' }, 'm-inline', { actor: 'service:feeder', reason: 'nightly' });
      const e = await eventually(() => capturedBy('from the feed'), { what: 'inline message captured' });
      expect(e).toMatchObject({ actor: 'service:feeder', reason: 'nightly', data: { source: 'feed', provenance: { adapter: { name: 'nats-publish' }, sourceRef: 'feed/item/1' } } });
      expect(await object(sha256Digest('from the feed'))).toMatchObject({ size: 13 });
    });

    it('an objectRef message is read, hashed and re-stored under the canonical name', async () => {
      const blobs = await client.blobs(OBJECT_STORES.snapshots.bucket);
      const bytes = Buffer.alloc(40_000, 3);
      await blobs.put(`${tenant}/incoming/upload-1`, new Uint8Array(bytes));
      await publish({ objectRef: `${tenant}/incoming/upload-1`, mediaType: 'application/octet-stream', sourceRef: 'sftp://drop/upload-1' }, 'm-ref');
      const digest = sha256Digest(bytes);
      await eventually(async () => expect(await events('snapshot', digestHex(digest))).toHaveLength(1), { what: 'object captured' });
      const stored = await blobs.get(objectNameFor(tenant, digest));
      expect(stored && Buffer.from(stored).equals(bytes)).toBe(true);
    });

    it('a burst handled concurrently: each distinct content captured once (repeats in one batch too), every message acked', async () => {
      expect(INGEST_CONSUMERS.find((c) => c.durable === INGEST_INBOUND_DURABLE)).toMatchObject({ inbox: false, batch: INBOUND_BATCH, concurrency: DEFAULT_INBOUND_CONCURRENCY });
      expect(DEFAULT_INBOUND_CONCURRENCY).toBeGreaterThan(1);
      const run = Date.now();
      // 3 batches' worth; every 4th content repeats, so lanes capture the same digest at the same time
      const contents = Array.from({ length: 3 * INBOUND_BATCH }, (_, i) => `burst ${run} ${i % 4 === 3 ? 'repeat' : i}`);
      await Promise.all(contents.map((content, i) => publish({ encoding: 'utf8', content, mediaType: 'text/plain', sourceRef: `burst/${i}` }, `m-burst-${run}-${i}`)));
      const distinct = [...new Set(contents)];
      await eventually(
        async () => {
          const info = await client.jsm.consumers.info(STREAMS.ingest.name, INGEST_INBOUND_DURABLE);
          expect(info.num_pending + info.num_ack_pending).toBe(0);
        },
        { what: 'every burst message acked', timeoutMs: 60_000 },
      );
      for (const content of distinct) {
        expect(await events('snapshot', digestHex(sha256Digest(content)))).toHaveLength(1);
        const stored = await (await client.blobs(OBJECT_STORES.snapshots.bucket)).get(objectNameFor(tenant, sha256Digest(content)));
        expect(stored && Buffer.from(stored).toString()).toBe(content);
      }
    });

    /** Makes the gateway's next `append` for which `matches` holds fail retryably, `after` the real append or instead of it. */
    const failNextAppend = (matches: (e: AnyKoaEvent) => boolean, when: 'before' | 'after') => {
      const messaging = service.messaging;
      const real = messaging.append.bind(messaging);
      const seen: AnyKoaEvent[] = [];
      let failed = false;
      const spy = jest.spyOn(messaging, 'append').mockImplementation(async (events, opts) => {
        // the gateway appends only validated catalogue events
        const hit = (events as readonly AnyKoaEvent[]).find(matches);
        if (hit) seen.push(hit);
        if (!hit || failed) return real(events, opts);
        failed = true;
        if (when === 'after') await real(events, opts);
        throw new KoaRefusal('BROKER_UNAVAILABLE', 'injected: the broker went away');
      });
      return { seen, restore: () => spy.mockRestore() };
    };
    const allAcked = () =>
      eventually(
        async () => {
          const info = await client.jsm.consumers.info(STREAMS.ingest.name, INGEST_INBOUND_DURABLE);
          expect(info.num_pending + info.num_ack_pending).toBe(0);
        },
        { what: 'every inbound message acked' },
      );

    it('a capture interrupted after the put (before the append) is redelivered and recorded once, with the right bytes', async () => {
      const content = `interrupted inbound ${Date.now()}`;
      const digest = sha256Digest(content);
      const objectAtFailure: Array<number | undefined> = [];
      const injected = failNextAppend((e) => e.type === 'io.koa.ingest.snapshot.captured.v1' && e.data.digest === digest, 'before');
      const blobs = await client.blobs(OBJECT_STORES.snapshots.bucket);
      try {
        await publish({ encoding: 'utf8', content, mediaType: 'text/plain', sourceRef: 'interrupted' }, `m-int-${Date.now()}`);
        await eventually(async () => expect(injected.seen.length).toBeGreaterThanOrEqual(1), { what: 'first delivery reached the append' });
        objectAtFailure.push((await blobs.info(objectNameFor(tenant, digest)))?.size);
        await eventually(async () => expect(await events('snapshot', digestHex(digest))).toHaveLength(1), { what: 'redelivery captured' });
        await allAcked();
      } finally {
        injected.restore();
      }
      expect(objectAtFailure).toEqual([content.length]); // the first delivery had stored the bytes
      expect(injected.seen).toHaveLength(2); // the first delivery failed at the append, the redelivery appended
      expect(await events('snapshot', digestHex(digest))).toHaveLength(1);
      const stored = await blobs.get(objectNameFor(tenant, digest));
      expect(stored && Buffer.from(stored).toString()).toBe(content);
    });

    it('a message redelivered after its capture was recorded (a lost ack) ends as a duplicate: one SnapshotCaptured', async () => {
      const content = `lost ack ${Date.now()}`;
      const digest = sha256Digest(content);
      const injected = failNextAppend((e) => e.type === 'io.koa.ingest.snapshot.captured.v1' && e.data.digest === digest, 'after');
      try {
        await publish({ encoding: 'utf8', content, mediaType: 'text/plain', sourceRef: 'lost-ack' }, `m-lost-${Date.now()}`);
        await eventually(() => capturedBy(content), { what: 'first delivery captured' });
        await allAcked();
      } finally {
        injected.restore();
      }
      // only the failed first delivery appended: the redelivery found the capture in the log first
      expect(injected.seen).toHaveLength(1);
      expect(await events('snapshot', digestHex(digest))).toHaveLength(1);
    });

    it('the same delivery handled three times at once (redelivery while still running) ⇒ one SnapshotCaptured; a rejected one ⇒ one SnapshotRejected', async () => {
      const controller = service.app.get(IngestEventsController);
      const run = Date.now();
      const good = `thrice ${run}`;
      const bad = { encoding: 'utf8', content: 'pic', mediaType: 'image/png', sourceRef: 'thrice' };
      const acks = [
        await publish({ encoding: 'utf8', content: good, mediaType: 'text/plain', sourceRef: 'thrice' }, `m-thrice-${run}`),
        await publish(bad, `m-thrice-bad-${run}`),
      ];
      for (const ack of acks) {
        const m = await client.jsm.streams.getMessage(STREAMS.ingest.name, { seq: ack.seq });
        if (!m) throw new Error(`message ${ack.seq} not in ${STREAMS.ingest.name}`);
        const raw: RawMessage = { subject: m.subject, seq: m.seq, data: m.data, headers: { 'Nats-Msg-Id': m.header.get('Nats-Msg-Id') } };
        // the consumer delivers it too: three handlers of one delivery, with no inbox between them
        await Promise.all([1, 2].map((n) => controller.onInbound(raw.data, new KoaEventContext(INGEST_INBOUND_DURABLE, raw, undefined, n, () => undefined))));
      }
      await allAcked();
      expect(await events('snapshot', digestHex(sha256Digest(good)))).toHaveLength(1);
      const rejected = await events('ingest', inboundAttemptId(acks[1].seq, `m-thrice-bad-${run}`));
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatchObject({ type: 'io.koa.ingest.snapshot.rejected.v1', data: { code: 'INGEST_MALFORMED' } });
    });

    it('a rejection recorded before a failure is not recorded again on redelivery (one SnapshotRejected, nothing dead-lettered)', async () => {
      const id = `m-rej-retry-${Date.now()}`;
      const injected = failNextAppend((e) => e.type === 'io.koa.ingest.snapshot.rejected.v1' && e.id.endsWith(`-${digestHex(sha256Digest(id)).slice(0, 16)}`), 'after');
      let seq = 0;
      try {
        seq = (await publish({ encoding: 'utf8', content: '', mediaType: 'text/plain', sourceRef: id }, id)).seq;
        await allAcked();
      } finally {
        injected.restore();
      }
      expect(injected.seen.length).toBeGreaterThanOrEqual(2); // recorded, failed, redelivered and appended again (refused as already recorded)
      const rejected = await events('ingest', inboundAttemptId(seq, id));
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatchObject({ data: { code: 'INGEST_EMPTY' } });
      expect(await client.lastMessage(STREAMS.deadLetters.name, subjects.deadLetter('ingest-gateway-inbound'))).toBeUndefined();
    });

    it('malformed messages ⇒ SnapshotRejected with their code, nothing stored, and the consumer goes on', async () => {
      const tooBig = 'x'.repeat(MAX + 1);
      const cases = [
        { id: 'm-bad-json', body: '{ not json', code: 'INGEST_MALFORMED' },
        { id: 'm-bad-media', body: { encoding: 'utf8', content: 'pic', mediaType: 'image/png', sourceRef: 'p' }, code: 'INGEST_MALFORMED' },
        { id: 'm-empty', body: { encoding: 'utf8', content: '', mediaType: 'text/plain', sourceRef: 'e' }, code: 'INGEST_EMPTY' },
        { id: 'm-too-big', body: { encoding: 'utf8', content: tooBig, mediaType: 'text/plain', sourceRef: 'big' }, code: 'INGEST_TOO_LARGE' },
        { id: 'm-no-object', body: { objectRef: `${tenant}/incoming/nope`, mediaType: 'text/plain', sourceRef: 'n' }, code: 'INGEST_OBJECT_NOT_FOUND' },
      ];
      const seqs: number[] = [];
      for (const c of cases) seqs.push((await publish(c.body, c.id)).seq);
      await publish({ encoding: 'utf8', content: 'after the bad ones', mediaType: 'text/plain', sourceRef: 'ok' }, 'm-after');
      await eventually(() => capturedBy('after the bad ones'), { what: 'valid message after the malformed ones captured' });
      // the inbound consumer runs captures concurrently: the valid one may finish before an earlier
      // rejection (the missing objectRef's lookup, say) is recorded; each is recorded before its ack
      await allAcked();
      for (const [i, c] of cases.entries()) {
        const [rejected, ...more] = await events('ingest', inboundAttemptId(seqs[i], c.id));
        expect(more).toEqual([]);
        expect(rejected).toMatchObject({ type: 'io.koa.ingest.snapshot.rejected.v1', data: { code: c.code, source: 'feed' } });
      }
      await expectNothingStored(sha256Digest(tooBig));
      await expectNothingStored(sha256Digest(''));
      // nothing was dead-lettered: the rejection is the record
      expect(await client.lastMessage(STREAMS.deadLetters.name, subjects.deadLetter('ingest-gateway-inbound'))).toBeUndefined();
    });
  });
});
