// The default pack fetcher against a real local HTTP server: bounds, statuses, failures.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { isKoaRefusal, sha256Digest } from '@koa/contracts';
import { freePort } from '@koa/platform/testing';
import { httpPackFetcher } from './fetch-pack';
import { PackStore } from './pack-store';


const DIGEST = sha256Digest('x');
let server: Server;
let url: string;
let handler: (res: ServerResponse) => void;
let bytesSent = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url !== `/v1/tenants/acme/packs/${encodeURIComponent(DIGEST)}`) return void res.writeHead(404).end();
    handler(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no refusal';
  } catch (e) {
    if (!isKoaRefusal(e)) throw e;
    return e.code;
  }
}

describe('httpPackFetcher', () => {
  it('returns exactly the bytes sent when within the bound', async () => {
    handler = (res) => res.writeHead(200, { 'content-length': 5 }).end('hello');
    const bytes = await httpPackFetcher({ releaseUrl: `${url}/`, tenant: 'acme' })(DIGEST, 5);
    expect(Buffer.from(bytes).toString()).toBe('hello');
  });

  it('refuses a Content-Length above the bound before reading the body', async () => {
    handler = (res) => res.writeHead(200, { 'content-length': 1_000_000 }).end(Buffer.alloc(1_000_000));
    expect(await codeOf(httpPackFetcher({ releaseUrl: url, tenant: 'acme' })(DIGEST, 10))).toBe('RELEASE_PACK_SIZE_MISMATCH');
  });

  it('aborts a chunked body as soon as it passes the bound', async () => {
    bytesSent = 0;
    handler = (res) => {
      res.writeHead(200);
      const timer = setInterval(() => {
        if (res.destroyed || bytesSent > 64 * 1024 * 1024) return void clearInterval(timer);
        res.write(Buffer.alloc(64 * 1024));
        bytesSent += 64 * 1024;
      }, 1);
      res.on('close', () => clearInterval(timer));
    };
    expect(await codeOf(httpPackFetcher({ releaseUrl: url, tenant: 'acme' })(DIGEST, 100 * 1024))).toBe('RELEASE_PACK_SIZE_MISMATCH');
    // the transfer was cut short, not read to the end
    expect(bytesSent).toBeLessThan(64 * 1024 * 1024);
  });

  it('maps a non-200 answer, a refused connection and a timeout to CONSUMER_DOWNLOAD_FAILED', async () => {
    handler = (res) => res.writeHead(500).end();
    expect(await codeOf(httpPackFetcher({ releaseUrl: url, tenant: 'acme' })(DIGEST, 10))).toBe('CONSUMER_DOWNLOAD_FAILED');
    expect(await codeOf(httpPackFetcher({ releaseUrl: url, tenant: 'acme' })(sha256Digest('other'), 10))).toBe('CONSUMER_DOWNLOAD_FAILED');
    expect(await codeOf(httpPackFetcher({ releaseUrl: `http://127.0.0.1:${await freePort()}`, tenant: 'acme' })(DIGEST, 10))).toBe('CONSUMER_DOWNLOAD_FAILED');
    handler = () => undefined; // never answers
    expect(await codeOf(httpPackFetcher({ releaseUrl: url, tenant: 'acme', timeoutMs: 200 })(DIGEST, 10))).toBe('CONSUMER_DOWNLOAD_FAILED');
  });

  it('refuses a malformed digest without any request', async () => {
    expect(await codeOf(httpPackFetcher({ releaseUrl: url, tenant: 'acme' })('sha256:../../etc', 10))).toBe('RELEASE_PACK_DIGEST_MISMATCH');
  });
});

describe('PackStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'koa-packstore-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const release = (v: number, d = sha256Digest(`p${v}`)) => ({ version: v, releaseId: `r-${v}`, packDigest: d, packSize: 3, noticeFile: `notices/${v}.jws`, packFile: `packs/${d.slice(7)}.pack`, activatedAt: '2026-06-01T00:00:00.000Z' });

  it('round-trips state, leaves no temp files and prunes unreferenced packs and notices', async () => {
    const store = new PackStore(dir);
    await store.init();
    await store.writePack(sha256Digest('p1'), new Uint8Array([1, 2, 3]));
    await store.writePack(sha256Digest('p2'), new Uint8Array([4, 5, 6]));
    await store.writeNotice(1, 'a.b.c');
    await store.writeNotice(2, 'd.e.f');
    const state = { format: 'koa-runtime-state/1' as const, scope: { tenant: 'acme', env: 'dev', channel: 'stable' }, lastTrustedVersion: 2, active: release(2) };
    await store.writeState(state);
    expect(await store.readState()).toEqual(state);
    await store.prune([state.active]);
    expect(readdirSync(join(dir, 'packs'))).toEqual([`${sha256Digest('p2').slice(7)}.pack`]);
    expect(readdirSync(join(dir, 'notices'))).toEqual(['2.jws']);
    for (const sub of ['', 'packs', 'notices']) expect(readdirSync(join(dir, sub)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });

  it('refuses a state file whose paths point outside the data dir', async () => {
    const store = new PackStore(dir);
    await store.init();
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ format: 'koa-runtime-state/1', scope: { tenant: 'acme', env: 'dev', channel: 'stable' }, lastTrustedVersion: 1, active: { ...release(1), packFile: '../../etc/passwd' } }));
    expect(await codeOf(store.readState())).toBe('INTERNAL');
  });

  it('keeps at most max reports in the outbox, dropping the oldest', async () => {
    const store = new PackStore(dir);
    await store.init();
    for (let i = 0; i < 5; i++) await store.putOutbox(`00${i}`, { i }, 3);
    expect((await store.listOutbox()).map((o) => o.id)).toEqual(['002', '003', '004']);
  });
});
