import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKoaRefusal } from '@koa/contracts';
import { UploadSpool, type ReceivedContent } from './spool';

const THRESHOLD = 4096;
const MAX = 64 * 1024;
const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const bytes = (n: number, fill = 7) => Buffer.alloc(n, fill);

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name));
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
  return Buffer.concat(parts);
}

/** UploadSpool against a real loopback HTTP server and the real file system. */
describe('UploadSpool (real HTTP bodies, real files)', () => {
  let base: string;
  let spool: UploadSpool;
  let server: Server;
  let url: string;
  /** what the server received last: the content (kept until the test disposes of it) or the refusal code */
  let last: { content?: ReceivedContent; code?: string } = {};

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'koa-spool-unit-'));
    spool = new UploadSpool({ INGEST_SPOOL_DIR: base, INGEST_SPOOL_THRESHOLD_BYTES: THRESHOLD });
    server = createServer((req, res) => {
      spool.receiveRequest(req, MAX).then(
        (content) => {
          last = { content };
          res.end('ok');
        },
        (e: unknown) => {
          last = { code: isKoaRefusal(e) ? e.code : 'NOT_A_REFUSAL' };
          res.statusCode = 400;
          res.end(last.code);
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterEach(async () => {
    await last.content?.dispose();
    last = {};
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await spool?.onModuleDestroy();
    await rm(base, { recursive: true, force: true });
  });

  const received = (r: { content?: ReceivedContent; code?: string }): ReceivedContent => {
    if (!r.content) throw new Error(`expected content, got ${r.code}`);
    return r.content;
  };
  const post = async (body: Uint8Array) => {
    const res = await fetch(url, { method: 'POST', body });
    await res.text();
    return last;
  };

  it('keeps a body of exactly the threshold in memory (no file)', async () => {
    const body = bytes(THRESHOLD);
    const content = received(await post(body));
    expect(content).toMatchObject({ digest: sha(body), size: THRESHOLD });
    expect(content.path).toBeUndefined();
    expect(content.bytes && Buffer.from(content.bytes).equals(body)).toBe(true);
    expect(await filesUnder(base)).toEqual([]);
    expect((await readAll(content.open())).equals(body)).toBe(true);
  });

  it('spools one byte more to a 0600 file in a 0700 directory; reads it back as often as asked; dispose deletes it once', async () => {
    const body = Buffer.concat([bytes(THRESHOLD, 1), bytes(MAX - THRESHOLD, 2)]);
    const content = received(await post(body));
    expect(content).toMatchObject({ digest: sha(body), size: MAX });
    expect(content.bytes).toBeUndefined();
    const path = content.path ?? '(not spooled)';
    expect(await filesUnder(base)).toEqual([path]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(path, '..'))).mode & 0o777).toBe(0o700);
    expect((await readFile(path)).equals(body)).toBe(true);
    expect((await readAll(content.open())).equals(body)).toBe(true);
    expect((await readAll(content.open())).equals(body)).toBe(true);
    await content.dispose();
    await content.dispose();
    expect(await filesUnder(base)).toEqual([]);
    expect(() => content.open()).toThrow(/disposed/);
  });

  it('refuses one byte over the bound INGEST_TOO_LARGE and leaves no file', async () => {
    expect(await post(bytes(MAX + 1))).toEqual({ code: 'INGEST_TOO_LARGE' });
    expect(await filesUnder(base)).toEqual([]);
  });

  it('refuses an empty body INGEST_EMPTY', async () => {
    expect(await post(new Uint8Array(0))).toEqual({ code: 'INGEST_EMPTY' });
  });

  it('threshold 0 spools everything, even one byte', async () => {
    const zero = new UploadSpool({ INGEST_SPOOL_DIR: base, INGEST_SPOOL_THRESHOLD_BYTES: 0 });
    const content = await zero.receiveStream(new Blob([bytes(1)]).stream(), MAX);
    expect(content.bytes).toBeUndefined();
    expect((await readFile(content.path ?? '(not spooled)')).equals(bytes(1))).toBe(true);
    await content.dispose();
    await zero.onModuleDestroy();
    expect(await filesUnder(base)).toEqual([]);
  });

  it('receiveStream: over the bound ⇒ INGEST_TOO_LARGE, the source is cancelled and the spool file deleted', async () => {
    let cancelled = false;
    let sent = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        sent += 8192;
        c.enqueue(new Uint8Array(8192));
      },
      cancel() {
        cancelled = true;
      },
    });
    await expect(spool.receiveStream(source, MAX)).rejects.toMatchObject({ code: 'INGEST_TOO_LARGE' });
    expect(cancelled).toBe(true);
    expect(sent).toBeLessThanOrEqual(MAX + 2 * 8192);
    expect(await filesUnder(base)).toEqual([]);
  });

  it('onModuleDestroy removes the private spool directory', async () => {
    const own = new UploadSpool({ INGEST_SPOOL_DIR: base, INGEST_SPOOL_THRESHOLD_BYTES: 0 });
    const dir = await own.directory();
    expect((await readdir(base)).includes(dir.slice(base.length + 1))).toBe(true);
    await own.onModuleDestroy();
    expect((await readdir(base)).includes(dir.slice(base.length + 1))).toBe(false);
  });
});
