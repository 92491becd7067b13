// The runtime consumer end to end with a private nats-server, a local HTTP pack server and
// locally signed notices (DevKeyring): activation, every refusal keeping the previous pack,
// restart from disk with no network, corrupted pack fallback, stale notices, reports in KOA_EVENTS.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { digestHex, sha256Digest, subjects, type ReleaseNoticeClaims } from '@koa/contracts';
import { encodePack, type PackEntity } from '@koa/pack-format';
import { Messaging } from '@koa/platform/messaging';
import { PrivateNatsServer, eventually } from '@koa/platform/testing';
import { loadTrustRoot, type TrustRoot } from '@koa/release/verify';
import { DevKeyring, Ed25519KeySigner, signReleaseNotice } from '@koa/release/signing';
import { RuntimeClient, type RuntimeClientOptions } from './index';


const TENANT = 'acme';
const ENV = 'dev';
const CHANNEL = 'stable';
const CONSUMER = 'edge-01';
const T0 = new Date('2026-06-01T00:00:00.000Z');

let now = T0;
const clock = (): Date => now;
let server: PrivateNatsServer;
let messaging: Messaging;
let http: Server;
let releaseUrl: string;
let tmp: string;
let keyring: DevKeyring;
let trustRoot: TrustRoot;
/** what the pack server answers per digest hex (override to misbehave) */
const served = new Map<string, Uint8Array>();
const clients: RuntimeClient[] = [];

const entity = (id: string, title: string, text: string): PackEntity => ({ id, type: 'equipment', title, text, attributes: { site: 'north' }, sources: [sha256Digest('src')] });
function makePack(label: string, entities: PackEntity[]) {
  const pack = encodePack({
    manifest: { tenant: TENANT, pipelineVersion: '1.0.0', snapshotSetRoot: sha256Digest(`root-${label}`), inputs: [{ digest: sha256Digest('src'), mediaType: 'application/json' }] },
    entities,
    evidence: { passed: true, label },
  });
  served.set(digestHex(pack.digest), pack.bytes);
  return pack;
}
const PACK1 = () => makePack('one', [entity('pump-p100', 'Centrifugal pump P100', 'Check the pump seal monthly.'), entity('valve-v2', 'Gate valve V2', 'Valve seal replacement.')]);
const PACK2 = () => makePack('two', [entity('pump-p100', 'Centrifugal pump P100 (rev 2)', 'Check the pump seal weekly.'), entity('fan-f1', 'Exhaust fan F1', 'Fan belt inspection.')]);

async function notice(version: number, pack: { digest: string; size: number }, over: Partial<ReleaseNoticeClaims> = {}): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return signReleaseNotice(keyring.releaseSigner, {
    iss: 'koa:konnaxion-release', tenant: TENANT, env: ENV, channel: CHANNEL, version, releaseId: `r-${version}`, caseId: `case-${version}`,
    pack: { digest: pack.digest as `sha256:${string}`, size: pack.size }, provenanceDigest: sha256Digest('prov'), evidenceDigest: sha256Digest('ev'),
    iat, exp: iat + 7 * 86_400, ...over,
  });
}

const publish = (jws: string, id: string) => messaging.publish(subjects.release(TENANT, ENV, CHANNEL), new TextEncoder().encode(jws), { msgId: id });

function client(dataDir: string, over: Partial<RuntimeClientOptions> = {}): RuntimeClient {
  const c = new RuntimeClient({ tenant: TENANT, env: ENV, channel: CHANNEL, consumerId: CONSUMER, trustRoot, dataDir, messaging, releaseUrl, clock, ...over });
  clients.push(c);
  return c;
}

async function consumerEvents(consumerId = CONSUMER): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
  const { events } = await messaging.readAggregate(TENANT, 'consumer', consumerId);
  return events as unknown as Array<{ type: string; data: Record<string, unknown> }>;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'koa-runtime-'));
  server = await PrivateNatsServer.start();
  messaging = await Messaging.connect({ url: server.url, name: 'runtime-client-test' });
  await messaging.ensureTopology();
  keyring = await DevKeyring.open(join(tmp, 'keys'), ENV, { now: clock });
  trustRoot = await loadTrustRoot(await keyring.trustRoot(), { env: ENV, now });
  http = createServer((req, res) => {
    const m = /^\/v1\/tenants\/([^/]+)\/packs\/sha256%3A([0-9a-f]{64})$/.exec(req.url ?? '');
    const bytes = m && m[1] === TENANT ? served.get(m[2]) : undefined;
    if (!bytes) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/vnd.koa.pack.v1+tar' }); // no content-length: chunked, so the bound is enforced while reading
    res.end(Buffer.from(bytes));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  releaseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const c of clients) await c.stop().catch(() => undefined);
  await messaging?.close().catch(() => undefined);
  await server?.dispose();
  await new Promise((resolve) => (http?.listening ? http.close(resolve) : resolve(undefined)));
  rmSync(tmp, { recursive: true, force: true });
});

describe('runtime client', () => {
  const dataDir = () => join(tmp, 'consumer');
  let p1: ReturnType<typeof PACK1>;
  let p2: ReturnType<typeof PACK2>;
  let n1: string;
  let n2: string;

  it('answers CONSUMER_NO_ACTIVE_PACK before anything is activated', async () => {
    const c = client(join(tmp, 'empty'), { messaging: undefined });
    await c.start();
    expect(c.status().state).toBe('no-pack');
    expect(() => c.lookup('x')).toThrow(expect.objectContaining({ code: 'CONSUMER_NO_ACTIVE_PACK' }));
  });

  it('activates the notice stored on KOA_RELEASES at start, answers lookup/search, reports ConsumerActivated', async () => {
    p1 = PACK1();
    n1 = await notice(1, p1);
    await publish(n1, 'r-1');
    const c = client(dataDir());
    const status = await c.start();
    expect(status).toMatchObject({ state: 'active', version: 1, packDigest: p1.digest, lastTrustedVersion: 1 });
    expect(c.lookup('valve-v2')?.title).toBe('Gate valve V2');
    expect(c.search('pump seal').map((e) => e.id)).toEqual(['pump-p100']);
    await eventually(async () => (await consumerEvents()).some((e) => e.type === 'io.koa.runtime.consumer.activated.v1' && e.data['version'] === 1), { what: 'ConsumerActivated v1 in KOA_EVENTS' });
  });

  it('follows a new notice and switches atomically, keeping the previous one', async () => {
    const c = clients[clients.length - 1];
    p2 = PACK2();
    n2 = await notice(2, p2);
    await publish(n2, 'r-2');
    await eventually(() => c.status().version === 2, { what: 'version 2 active' });
    expect(c.lookup('fan-f1')?.title).toBe('Exhaust fan F1');
    expect(c.lookup('valve-v2')).toBeUndefined();
    // the switch happens before the report is appended: wait for it
    const activatedVersions = async () => (await consumerEvents()).filter((e) => e.type === 'io.koa.runtime.consumer.activated.v1').map((e) => e.data['version']);
    await eventually(async () => (await activatedVersions()).length === 2, { what: 'ConsumerActivated v2' });
    expect(await activatedVersions()).toEqual([1, 2]);
  });

  const refusals: Array<[string, () => Promise<string>, string]> = [
    ['tampered notice', async () => { const [h, p, s] = (await notice(3, p1)).split('.'); return `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`; }, 'NOTICE_SIGNATURE_INVALID'],
    ['replayed older notice', async () => n1, 'NOTICE_VERSION_ROLLBACK'],
    ['notice for another channel', async () => notice(3, p1, { channel: 'beta' }), 'NOTICE_SCOPE_MISMATCH'],
    ['notice signed by an unknown key', async () => signReleaseNotice(await Ed25519KeySigner.generate(), { ...(JSON.parse(Buffer.from(n2.split('.')[1], 'base64url').toString()) as ReleaseNoticeClaims), version: 3 }), 'NOTICE_KEY_UNKNOWN'],
    ['pack bytes that do not match the digest', async () => {
      const fake = PACK1();
      const wrong = new Uint8Array(fake.bytes);
      wrong[600] ^= 0xff;
      const digest = sha256Digest('not-the-bytes');
      served.set(digestHex(digest), wrong);
      return notice(3, { digest, size: wrong.byteLength });
    }, 'RELEASE_PACK_DIGEST_MISMATCH'],
    ['a download larger than the notice says', async () => {
      const digest = sha256Digest('oversize');
      served.set(digestHex(digest), new Uint8Array(256 * 1024));
      return notice(3, { digest, size: 1024 });
    }, 'RELEASE_PACK_SIZE_MISMATCH'],
  ];

  it.each(refusals)('refuses %s over the feed (code) and keeps version 2 active', async (_name, make, code) => {
    const c = clients[clients.length - 1];
    const jws = await make();
    const before = (await consumerEvents()).length;
    await publish(jws, `bad-${code}`);
    await eventually(() => c.status().lastRefusal?.code === code, { what: `refusal ${code}` });
    expect(c.status()).toMatchObject({ state: 'active', version: 2, packDigest: p2.digest, lastTrustedVersion: 2 });
    expect(c.lookup('fan-f1')).toBeDefined();
    await eventually(async () => (await consumerEvents()).slice(before).some((e) => e.type === 'io.koa.runtime.consumer.refused.v1' && e.data['code'] === code), { what: `ConsumerRefused ${code}` });
    // put the good notice back as the last one on the subject (the feed re-delivers it as a no-op)
    await publish(n2, `r-2-again-${code}`);
  });

  it('works offline through offer(), reuses a pack on disk for a rollback release, and reports once NATS is attached', async () => {
    let downloads = 0;
    const fetchPack = async (digest: string) => {
      downloads += 1;
      return served.get(digestHex(digest)) as Uint8Array;
    };
    const c = client(join(tmp, 'edge-02'), { consumerId: 'edge-02', messaging: undefined, fetchPack });
    expect((await c.start()).state).toBe('no-pack');
    expect(await c.offer(n1)).toMatchObject({ outcome: 'activated', version: 1 });
    expect(await c.offer(n2)).toMatchObject({ outcome: 'activated', version: 2 });
    expect(downloads).toBe(2);
    // a rollback is a NEW, higher version naming the earlier pack: accepted, bytes reused from disk (still verified)
    expect(await c.offer(await notice(3, p1))).toMatchObject({ outcome: 'activated', version: 3, packDigest: p1.digest });
    expect(downloads).toBe(2);
    expect(c.lookup('valve-v2')?.title).toBe('Gate valve V2');
    expect(await consumerEvents('edge-02')).toEqual([]);
    // the broker "comes back": reports kept in the outbox are delivered, in order
    await c.attachMessaging(messaging);
    await eventually(async () => (await consumerEvents('edge-02')).filter((e) => e.type === 'io.koa.runtime.consumer.activated.v1').length === 3, { what: 'edge-02 activation reports' });
    const activated = (await consumerEvents('edge-02')).filter((e) => e.type === 'io.koa.runtime.consumer.activated.v1');
    expect(activated.map((e) => e.data['version'])).toEqual([1, 2, 3]);
    // the catch-up delivered the channel's last notice (v2): below this consumer's floor, refused
    expect(c.status()).toMatchObject({ state: 'active', version: 3, following: true, lastRefusal: { code: 'NOTICE_VERSION_ROLLBACK', version: 2 } });
    await c.stop();
  });

  it('keeps answering after a restart with NO network (nats-server and HTTP server gone)', async () => {
    for (const c of clients) await c.stop();
    await messaging.close();
    await server.stop();
    await new Promise((resolve) => http.close(resolve));
    const offline = client(dataDir(), { messaging: undefined, releaseUrl: 'http://127.0.0.1:9' });
    const status = await offline.start();
    expect(status).toMatchObject({ state: 'active', version: 2, packDigest: p2.digest, lastTrustedVersion: 2 });
    expect(status.lastRefusal).toBeUndefined();
    expect(offline.lookup('fan-f1')?.title).toBe('Exhaust fan F1');
    expect(offline.search('fan belt').map((e) => e.id)).toEqual(['fan-f1']);
    // an offered notice needing a download fails cleanly and changes nothing
    const p3 = makePack('three', [entity('x-1', 'X', 'y')]);
    expect(await offline.offer(await notice(3, p3))).toMatchObject({ outcome: 'refused', code: 'CONSUMER_DOWNLOAD_FAILED' });
    expect(offline.status()).toMatchObject({ state: 'active', version: 2 });
    await offline.stop();
  });

  it('serves a pack whose notice has expired as degraded-stale (no network needed)', async () => {
    now = new Date(T0.getTime() + 8 * 86_400_000);
    try {
      const c = client(dataDir(), { messaging: undefined });
      expect((await c.start()).state).toBe('degraded-stale');
      expect(c.lookup('fan-f1')).toBeDefined();
      await c.stop();
    } finally {
      now = T0;
    }
  });

  it('rebuilds an unreadable state.json from the signed notices on disk, keeping the rollback floor', async () => {
    const dir = join(tmp, 'edge-02'); // v3 active (pack one), v2 previous, from the offline test
    writeFileSync(join(dir, 'state.json'), '{ not json');
    const c = client(dir, { consumerId: 'edge-02', messaging: undefined });
    expect(await c.start()).toMatchObject({ state: 'active', version: 3, packDigest: p1.digest, lastTrustedVersion: 3, lastRefusal: { code: 'INTERNAL' } });
    expect(c.lookup('valve-v2')).toBeDefined();
    expect(await c.offer(n2)).toMatchObject({ outcome: 'refused', code: 'NOTICE_VERSION_ROLLBACK' });
    await c.stop();
    const again = client(dir, { consumerId: 'edge-02', messaging: undefined });
    const status = await again.start();
    expect(status).toMatchObject({ state: 'active', version: 3, lastTrustedVersion: 3 });
    expect(status.lastRefusal).toBeUndefined();
    await again.stop();
  });

  it('falls back to the previous pack when the active pack file is corrupted, recording the refusal', async () => {
    writeFileSync(join(dataDir(), 'packs', `${digestHex(p2.digest)}.pack`), 'garbage');
    const c = client(dataDir(), { messaging: undefined });
    const status = await c.start();
    expect(status).toMatchObject({ state: 'active', version: 1, packDigest: p1.digest, lastTrustedVersion: 2 });
    expect(status.lastRefusal).toMatchObject({ code: 'RELEASE_PACK_SIZE_MISMATCH', version: 2 });
    expect(c.lookup('valve-v2')?.title).toBe('Gate valve V2');
    // the rollback floor did not move: the old v2 notice cannot be replayed onto it
    expect(await c.offer(n2)).toMatchObject({ outcome: 'refused', code: 'NOTICE_VERSION_ROLLBACK' });
    await c.stop();
    // with no intact pack left the consumer serves nothing and says why
    writeFileSync(join(dataDir(), 'packs', `${digestHex(p1.digest)}.pack`), new Uint8Array(p1.size));
    const broken = client(dataDir(), { messaging: undefined });
    expect(await broken.start()).toMatchObject({ state: 'refused', lastRefusal: { code: 'RELEASE_PACK_DIGEST_MISMATCH' } });
    await broken.stop();
  });
});
