import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OBJECT_STORES, digestHex, objectNameFor, subjects, type AnyKoaEvent } from '@koa/contracts';
import { Messaging } from '@koa/platform/messaging';
import { createServiceApp, type ServiceApp } from '@koa/platform/service';
import { PrivateNatsServer, createThrowAwayDatabase, eventually, freePort, uniqueName, type ThrowAwayDatabase } from '@koa/platform/testing';
import { INGEST_CONFIG_SCHEMA, INGEST_CONSUMERS, INGEST_DB_SCHEMA, INGEST_ENTITIES, INGEST_MIGRATIONS, IngestFeatureModule, SPOOL_DIR_PREFIX, type IngestConfig } from '@koa/ingest/feature';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
/** the gateway that takes large documents */
const LARGE_MAX = 32 * MiB;
/** the gateway with a lowered bound (still above the 1 MiB spool threshold, so refusals happen while spooling) */
const LOWERED_MAX = 3 * MiB;

/** Chunk `i` of a deterministic document unique to `seed` (the test never holds a whole document). */
function chunkOf(seed: number, i: number): Buffer {
  const b = Buffer.alloc(CHUNK, (seed * 31 + i) % 251);
  b.writeUInt32LE(seed, 0);
  b.writeUInt32LE(i, 4);
  return b;
}

/** sha256 of the first `count` chunks of document `seed`. */
function digestOf(seed: number, count: number): string {
  const h = createHash('sha256');
  for (let i = 0; i < count; i++) h.update(chunkOf(seed, i));
  return `sha256:${h.digest('hex')}`;
}

/** Every regular file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name));
}

interface Gateway {
  app: ServiceApp<IngestConfig>;
  url: URL;
  spoolBase: string;
}

describe('ingest-gateway streamed uploads (spool file, bounded memory; real NATS + Postgres)', () => {
  let nats: PrivateNatsServer;
  let db: ThrowAwayDatabase;
  let client: Messaging;
  let large: Gateway;
  let lowered: Gateway;
  const tenant = uniqueName('big');

  /** `inbound`: whether this gateway also consumes NATS inbound (only one does, so the objectRef test knows its bound) */
  const start = async (max: number, inbound: boolean): Promise<Gateway> => {
    const spoolBase = await mkdtemp(join(tmpdir(), 'koa-ingest-spool-test-'));
    const app = await createServiceApp(
      { name: 'ingest-gateway', schema: INGEST_CONFIG_SCHEMA, module: IngestFeatureModule, consumers: inbound ? INGEST_CONSUMERS : [], dbSchema: INGEST_DB_SCHEMA, entities: INGEST_ENTITIES, migrations: INGEST_MIGRATIONS, defaultHttpPort: 8081 },
      { env: { NATS_URL: nats.url, DATABASE_URL: db.url, HTTP_PORT: String(await freePort()), HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'silent', MAX_INGEST_BYTES: String(max), INGEST_SPOOL_DIR: spoolBase } },
    );
    return { app, url: new URL(await app.listen()), spoolBase };
  };

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    db = await createThrowAwayDatabase('koa_ingest_stream');
    // one after the other: both run the same migrations on the same database
    large = await start(LARGE_MAX, true);
    lowered = await start(LOWERED_MAX, false);
    client = await Messaging.connect({ url: nats.url, name: 'ingest-stream-test' });
  });

  afterAll(async () => {
    await client?.close();
    await large?.app.close();
    await lowered?.app.close();
    await nats?.dispose();
    await db?.drop();
    for (const g of [large, lowered]) if (g) await rm(g.spoolBase, { recursive: true, force: true });
  });

  const events = async (digest: string): Promise<AnyKoaEvent[]> => (await client.readAggregate(tenant, 'snapshot', digestHex(digest))).events;
  const blobs = () => client.blobs(OBJECT_STORES.snapshots.bucket);
  const storedDigest = async (digest: string): Promise<string | undefined> => {
    const stream = await (await blobs()).getStream(objectNameFor(tenant, digest));
    if (!stream) return undefined;
    const h = createHash('sha256');
    const reader = stream.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) h.update(r.value);
    return `sha256:${h.digest('hex')}`;
  };
  const expectNoSpoolFile = (g: Gateway) => eventually(async () => expect(await filesUnder(g.spoolBase)).toEqual([]), { what: 'no spool file left' });

  /**
   * A chunked upload (no Content-Length) written by hand: `afterChunk(i)` runs after chunk i is
   * written and may wait (e.g. for the spool file to appear) or return 'abort' / 'stop'.
   */
  function uploadByHand(g: Gateway, seed: number, chunks: number, afterChunk: (i: number) => Promise<'go' | 'abort' | 'stop'>) {
    // agent: false — a connection of its own: a pooled keep-alive socket that the gateway is just
    // closing (its keep-alive timeout) would fail the first write with EPIPE, not test the gateway
    const req: ClientRequest = request({ agent: false, host: g.url.hostname, port: g.url.port, method: 'POST', path: `/v1/tenants/${tenant}/sources/docs/snapshots`, headers: { 'content-type': 'application/octet-stream', 'x-koa-actor': 'user:alice' } });
    const response = new Promise<{ status: number; body: Record<string, unknown> } | 'aborted'>((resolve, reject) => {
      let answered = false;
      req.on('response', (res: IncomingMessage) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') }));
        res.on('error', reject);
      });
      req.on('error', (e) => (answered ? undefined : req.destroyed ? resolve('aborted') : reject(e)));
      req.on('close', () => {
        if (!answered) resolve('aborted');
      });
    });
    const written = (async () => {
      const r = req;
      let responded = false;
      void response.then(() => (responded = true));
      for (let i = 0; i < chunks && !responded && !r.destroyed; i++) {
        if (!r.write(chunkOf(seed, i))) {
          await new Promise<void>((resolve) => {
            const done = () => {
              r.off('drain', done).off('close', done);
              resolve();
            };
            r.on('drain', done).on('close', done);
          });
        }
        const next = await afterChunk(i);
        if (next === 'abort') {
          r.destroy();
          return i + 1;
        }
        if (next === 'stop') return i + 1;
      }
      return chunks;
    })();
    return { response, written, end: () => req.end(), destroy: () => req.destroy() };
  }

  it('a 24 MiB upload is spooled (0600 file in a 0700 directory), stored, and round-trips; the same upload again is a duplicate', async () => {
    const seed = 24;
    const count = (24 * MiB) / CHUNK;
    const digest = digestOf(seed, count);
    let spoolSeen: { file: string; fileMode: number; dirMode: number; dirName: string } | undefined;
    const first = uploadByHand(large, seed, count, async (i) => {
      if (i === (4 * MiB) / CHUNK) {
        // past the 1 MiB threshold the body is in a spool file, not in memory
        const [file] = await eventually(async () => {
          const files = await filesUnder(large.spoolBase);
          expect(files).toHaveLength(1);
          return files;
        }, { what: 'spool file while uploading' });
        const dir = join(file, '..');
        spoolSeen = { file, fileMode: (await stat(file)).mode & 0o777, dirMode: (await stat(dir)).mode & 0o777, dirName: dir.slice(large.spoolBase.length + 1) };
      }
      return 'go';
    });
    await first.written;
    first.end();
    const answer = await first.response;
    expect(answer).toEqual({ status: 201, body: { digest, size: 24 * MiB, mediaType: 'application/octet-stream', duplicate: false } });
    expect(spoolSeen).toMatchObject({ fileMode: 0o600, dirMode: 0o700 });
    expect(spoolSeen?.dirName.startsWith(SPOOL_DIR_PREFIX)).toBe(true);
    await expectNoSpoolFile(large);

    expect(await (await blobs()).info(objectNameFor(tenant, digest))).toMatchObject({ size: 24 * MiB });
    expect(await storedDigest(digest)).toBe(digest);
    const [captured, ...more] = await events(digest);
    expect(more).toEqual([]);
    expect(captured).toMatchObject({ type: 'io.koa.ingest.snapshot.captured.v1', data: { digest, size: 24 * MiB, objectName: objectNameFor(tenant, digest) } });

    const again = uploadByHand(large, seed, count, async () => 'go');
    await again.written;
    again.end();
    expect(await again.response).toEqual({ status: 200, body: { digest, size: 24 * MiB, mediaType: 'application/octet-stream', duplicate: true } });
    expect(await events(digest)).toHaveLength(1);
    await expectNoSpoolFile(large);
  });

  it('over a lowered MAX_INGEST_BYTES ⇒ 413 INGEST_TOO_LARGE while the body is still streaming; no object, no event, no spool file', async () => {
    const seed = 413;
    const count = (16 * MiB) / CHUNK;
    let spooled = false;
    const upload = uploadByHand(lowered, seed, count, async (i) => {
      if (i === (2 * MiB) / CHUNK) {
        await eventually(async () => expect(await filesUnder(lowered.spoolBase)).toHaveLength(1), { what: 'spool file before the bound is crossed' });
        spooled = true;
      }
      return 'go';
    });
    // the body is never ended: only a refusal in the middle of the stream can answer it
    const answer = await upload.response;
    upload.destroy();
    expect(spooled).toBe(true);
    expect(answer).toMatchObject({ status: 413, body: { code: 'INGEST_TOO_LARGE' } });
    await expectNoSpoolFile(lowered);
    for (const n of [count, LOWERED_MAX / CHUNK, LOWERED_MAX / CHUNK + 1]) {
      const d = digestOf(seed, n);
      expect(await (await blobs()).info(objectNameFor(tenant, d))).toBeUndefined();
      expect(await events(d)).toEqual([]);
    }
    expect(await client.lastMessage('KOA_EVENTS', subjects.event(tenant, 'snapshot', digestHex(digestOf(seed, count))))).toBeUndefined();
  });

  it('a client that aborts mid-upload leaves no spool file, no object and no event; the gateway goes on serving', async () => {
    const seed = 499;
    const abortAfter = (2 * MiB) / CHUNK;
    const upload = uploadByHand(large, seed, 8 * abortAfter, async (i) => {
      if (i + 1 < abortAfter) return 'go';
      await eventually(async () => expect(await filesUnder(large.spoolBase)).toHaveLength(1), { what: 'spool file before the abort' });
      return 'abort';
    });
    expect(await upload.written).toBe(abortAfter);
    expect(await upload.response).toBe('aborted');
    await expectNoSpoolFile(large);
    for (const n of [abortAfter, 8 * abortAfter]) {
      const d = digestOf(seed, n);
      expect(await (await blobs()).info(objectNameFor(tenant, d))).toBeUndefined();
      expect(await events(d)).toEqual([]);
    }
    // still serving
    const after = uploadByHand(large, seed + 1, 3, async () => 'go');
    await after.written;
    after.end();
    expect(await after.response).toMatchObject({ status: 201, body: { digest: digestOf(seed + 1, 3), duplicate: false } });
  });

  it('a 5 MiB NATS objectRef (above the spool threshold) is captured, its stored bytes hash to the digest, no spool file left', async () => {
    const seed = 777;
    const count = (5 * MiB) / CHUNK;
    const digest = digestOf(seed, count);
    let i = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i === count) c.close();
        else c.enqueue(new Uint8Array(chunkOf(seed, i++)));
      },
    });
    await (await blobs()).put(`${tenant}/incoming/large-1`, source);
    const msg = { specversion: '1.0', id: 'm-large-ref', source: 'feed-bot', type: 'io.koa.ingest.content.v1', data: { objectRef: `${tenant}/incoming/large-1`, mediaType: 'application/octet-stream', sourceRef: 'sftp://drop/large-1' } };
    await client.publish(subjects.ingest(tenant, 'feed'), new Uint8Array(Buffer.from(JSON.stringify(msg))), { msgId: msg.id });
    await eventually(async () => expect(await events(digest)).toHaveLength(1), { what: 'large objectRef captured' });
    expect(await storedDigest(digest)).toBe(digest);
    await expectNoSpoolFile(large);
    await expectNoSpoolFile(lowered);
  });
});
