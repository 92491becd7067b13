// Persistence while verifying: the pack and the verified notice are written (under their final
// names, unused until state.json names them) during verification; state.json, carrying the
// activation report, is renamed into place only once every check passed (offline, real files,
// signed notices).
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, digestHex, sha256Digest } from '@koa/contracts';
import { PACK_FORMAT, PACK_PARTS, encodePack, readUstar, writeUstar } from '@koa/pack-format';
import { loadTrustRoot, type TrustRoot } from '@koa/release/verify';
import { DevKeyring, signReleaseNotice } from '@koa/release/signing';
import { PackStore, STATE_REPORTS_MAX } from './pack-store';
import { RuntimeClient, type RuntimeMessaging } from './index';


const T0 = new Date('2026-06-01T00:00:00.000Z');
const clock = (): Date => T0;
let tmp: string;
let keyring: DevKeyring;
let trustRoot: TrustRoot;

async function notice(version: number, pack: { digest: string; size: number }): Promise<string> {
  const iat = Math.floor(T0.getTime() / 1000);
  return signReleaseNotice(keyring.releaseSigner, {
    iss: 'koa:konnaxion-release', tenant: 'acme', env: 'dev', channel: 'stable', version, releaseId: `r-${version}`, caseId: `case-${version}`,
    pack: { digest: pack.digest as `sha256:${string}`, size: pack.size }, provenanceDigest: sha256Digest('prov'), evidenceDigest: sha256Digest('ev'),
    iat, exp: iat + 86_400,
  });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'koa-runtime-persist-'));
  keyring = await DevKeyring.open(join(tmp, 'keys'), 'dev', { now: clock });
  trustRoot = await loadTrustRoot(await keyring.trustRoot(), { env: 'dev', now: T0 });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A broker stand-in that records appended events (the client's only use of it here). */
function recordingMessaging(): RuntimeMessaging & { appended: Array<{ id: string; type: string; data: Record<string, unknown> }> } {
  const appended: Array<{ id: string; type: string; data: Record<string, unknown> }> = [];
  return {
    appended,
    lastMessage: async () => undefined,
    watch: async () => ({ stop: async () => undefined }),
    append: async (events) => {
      for (const e of events) appended.push(e as unknown as { id: string; type: string; data: Record<string, unknown> });
      return events.map((_, i) => ({ seq: appended.length - events.length + i + 1, duplicate: false }));
    },
  } as RuntimeMessaging & { appended: Array<{ id: string; type: string; data: Record<string, unknown> }> };
}

const packOf = (id: string) =>
  encodePack({
    manifest: { tenant: 'acme', pipelineVersion: '1.0.0', snapshotSetRoot: sha256Digest('root'), inputs: [{ digest: sha256Digest('src'), mediaType: 'application/json' }] },
    entities: [{ id, type: 'equipment', title: `Title ${id}`, text: 'seal', attributes: {}, sources: [sha256Digest('src')] }],
    evidence: { passed: true },
  });

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

describe('PackStore.stage', () => {
  it('commit puts the exact bytes under the final name; discard leaves nothing behind', async () => {
    const store = new PackStore(join(tmp, 'store'));
    await store.init();
    const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) % 251);
    const kept = await store.stage('packs/a.pack', bytes);
    const dropped = await store.stage('packs/b.pack', bytes);
    expect(existsSync(join(store.dir, 'packs/a.pack'))).toBe(false);
    await kept.commit();
    await dropped.discard();
    expect(readdirSync(join(store.dir, 'packs'))).toEqual(['a.pack']);
    expect(Buffer.compare(readFileSync(join(store.dir, 'packs/a.pack')), Buffer.from(bytes))).toBe(0);
  });
});

describe('offer: persistence during verification', () => {
  it('a pack that matches its signed digest but is not koa-pack/2 is refused and leaves no file; a good one is persisted exactly', async () => {
    const dataDir = join(tmp, 'consumer');
    const bad = writeUstar([{ path: 'manifest.json', data: new TextEncoder().encode('{}') }]);
    const good = encodePack({
      manifest: { tenant: 'acme', pipelineVersion: '1.0.0', snapshotSetRoot: sha256Digest('root'), inputs: [{ digest: sha256Digest('src'), mediaType: 'application/json' }] },
      entities: [{ id: 'pump-p100', type: 'equipment', title: 'Pump P100', text: 'seal', attributes: {}, sources: [sha256Digest('src')] }],
      evidence: { passed: true },
    });
    const served = new Map([[digestHex(sha256Digest(bad)), bad], [digestHex(good.digest), good.bytes]]);
    const c = new RuntimeClient({
      tenant: 'acme', env: 'dev', channel: 'stable', consumerId: 'edge-p', trustRoot, dataDir, clock, newId: () => `id-${Math.random().toString(36).slice(2)}`,
      fetchPack: async (digest) => served.get(digestHex(digest)) as Uint8Array,
    });
    await c.start();

    const refused = await c.offer(await notice(1, { digest: sha256Digest(bad), size: bad.length }));
    expect(refused).toMatchObject({ outcome: 'refused', code: 'PACK_FORMAT_INVALID' });
    expect(readdirSync(join(dataDir, 'packs'))).toEqual([]);
    expect(readdirSync(join(dataDir, 'notices'))).toEqual([]);
    expect(existsSync(join(dataDir, 'state.json'))).toBe(false);

    expect(await c.offer(await notice(2, good))).toMatchObject({ outcome: 'activated', version: 2 });
    expect(readdirSync(join(dataDir, 'packs'))).toEqual([`${digestHex(good.digest)}.pack`]);
    expect(readdirSync(join(dataDir, 'notices'))).toEqual(['2.jws']);
    expect(Buffer.compare(readFileSync(join(dataDir, 'packs', `${digestHex(good.digest)}.pack`)), Buffer.from(good.bytes))).toBe(0);
    expect(c.status()).toMatchObject({ state: 'active', version: 2, packDigest: good.digest, entities: 1 });
    expect(c.search('PUMP seal').map((e) => e.id)).toEqual(['pump-p100']);
    await c.stop();
  });

  it('activation defers per-line entity checks: a signed pack with a bad line activates, but that line is never answered from (PACK_FORMAT_INVALID on the query), and a restart re-verifies the same way', async () => {
    const dataDir = join(tmp, 'consumer-bad-line');
    const good = encodePack({
      manifest: { tenant: 'acme', pipelineVersion: '1.0.0', snapshotSetRoot: sha256Digest('root'), inputs: [{ digest: sha256Digest('src'), mediaType: 'application/json' }] },
      entities: [
        { id: 'pump-p100', type: 'equipment', title: 'Pump P100', text: 'seal', attributes: {}, sources: [sha256Digest('src')] },
        { id: 'valve-v2', type: 'equipment', title: 'Valve V2', text: 'seal', attributes: {}, sources: [sha256Digest('src')] },
      ],
      evidence: { passed: true },
    });
    // re-pack with valve-v2's type made invalid; the manifest's part digests are consistent, so
    // only the per-line check (docs/pack-format.md §7 step 8b) can refuse it
    const [m, entitiesPart, evidencePart] = readUstar(good.bytes, { maxEntries: 3 });
    const enc = new TextEncoder();
    const badEntities = enc.encode(new TextDecoder().decode(entitiesPart.data).replace(/("title":"Valve V2","type":)"equipment"/, '$1"no such type!"'));
    const manifest = JSON.parse(new TextDecoder().decode(m.data));
    expect(manifest.format).toBe(PACK_FORMAT);
    const part = manifest.parts.find((p: { path: string }) => p.path === PACK_PARTS.entities.path);
    part.digest = sha256Digest(badEntities);
    part.size = badEntities.length;
    const bytes = writeUstar([{ path: 'manifest.json', data: enc.encode(canonicalJson(manifest)) }, { path: entitiesPart.path, data: badEntities }, evidencePart]);
    const digest = sha256Digest(bytes);
    const opts = { tenant: 'acme', env: 'dev', channel: 'stable', consumerId: 'edge-q', trustRoot, dataDir, clock, newId: () => `id-${Math.random().toString(36).slice(2)}`, fetchPack: async () => bytes };
    const c = new RuntimeClient(opts);
    await c.start();
    expect(await c.offer(await notice(1, { digest, size: bytes.length }))).toMatchObject({ outcome: 'activated', version: 1 });
    expect(c.lookup('pump-p100')?.title).toBe('Pump P100');
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return undefined;
    };
    expect(code(() => c.lookup('valve-v2'))).toBe('PACK_FORMAT_INVALID');
    expect(code(() => c.search('seal'))).toBe('PACK_FORMAT_INVALID');
    await c.stop();
    const again = new RuntimeClient(opts);
    expect(await again.start()).toMatchObject({ state: 'active', version: 1, packDigest: digest, entities: 2 });
    expect(code(() => again.lookup('valve-v2'))).toBe('PACK_FORMAT_INVALID');
    expect(again.lookup('pump-p100')?.id).toBe('pump-p100');
    await again.stop();
  });
});

describe('offer: the activation report rides in state.json (one atomic switch)', () => {
  it('an offline activation carries its report in state.json (no outbox file); a restart with NATS sends it exactly once and drops it from the state', async () => {
    const dataDir = join(tmp, 'consumer-report');
    const pack = packOf('pump-p1');
    let ids = 0;
    const opts = { tenant: 'acme', env: 'dev', channel: 'stable', consumerId: 'edge-r', trustRoot, dataDir, clock, newId: () => `rep-${++ids}`, fetchPack: async () => pack.bytes };
    const c = new RuntimeClient(opts);
    await c.start();
    expect(await c.offer(await notice(1, pack))).toMatchObject({ outcome: 'activated', version: 1 });
    await c.stop();
    const state = readJson(join(dataDir, 'state.json'));
    expect(state.active.version).toBe(1);
    expect(state.reports).toHaveLength(1);
    expect(state.reports[0].event).toMatchObject({ type: 'io.koa.runtime.consumer.activated.v1', data: { version: 1, packDigest: pack.digest } });
    expect(readdirSync(join(dataDir, 'outbox'))).toEqual([]);

    // "crash" after the switch, restart with the broker: the report is sent once, then leaves the state
    const messaging = recordingMessaging();
    const again = new RuntimeClient({ ...opts, messaging });
    expect(await again.start()).toMatchObject({ state: 'active', version: 1 });
    await again.stop();
    expect(messaging.appended.map((e) => [e.type, e.data['version']])).toEqual([['io.koa.runtime.consumer.activated.v1', 1]]);
    expect(readJson(join(dataDir, 'state.json')).reports).toEqual([]);
    const third = new RuntimeClient({ ...opts, messaging });
    await third.start();
    await third.stop();
    expect(messaging.appended).toHaveLength(1);
  });

  it(`keeps at most ${STATE_REPORTS_MAX} unsent reports in state.json: older ones move to the outbox, and all are sent once, in order`, async () => {
    const dataDir = join(tmp, 'consumer-many');
    const packs = [packOf('a-1'), packOf('a-2')];
    const served = new Map(packs.map((p) => [p.digest as string, p.bytes]));
    let ids = 0;
    const opts = { tenant: 'acme', env: 'dev', channel: 'stable', consumerId: 'edge-m', trustRoot, dataDir, clock, newId: () => `m-${++ids}`, fetchPack: async (d: string) => served.get(d) as Uint8Array };
    const c = new RuntimeClient(opts);
    await c.start();
    const n = STATE_REPORTS_MAX + 4;
    for (let v = 1; v <= n; v++) expect(await c.offer(await notice(v, packs[v % 2]))).toMatchObject({ outcome: 'activated', version: v });
    await c.stop();
    expect(readJson(join(dataDir, 'state.json')).reports).toHaveLength(STATE_REPORTS_MAX);
    expect(readdirSync(join(dataDir, 'outbox'))).toHaveLength(n - STATE_REPORTS_MAX);
    const messaging = recordingMessaging();
    const again = new RuntimeClient({ ...opts, messaging });
    await again.start();
    await again.stop();
    expect(messaging.appended.map((e) => e.data['version'])).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(readJson(join(dataDir, 'state.json')).reports).toEqual([]);
    expect(readdirSync(join(dataDir, 'outbox'))).toEqual([]);
  });

  it('after a crash before the switch: a partial pack and an unreferenced notice left under final names change nothing; the next offer replaces the partial pack and activates', async () => {
    const dataDir = join(tmp, 'consumer-crash');
    const p1 = packOf('c-1');
    const p2 = packOf('c-2');
    const served = new Map([[p1.digest as string, p1.bytes], [p2.digest as string, p2.bytes]]);
    let downloads = 0;
    const opts = {
      tenant: 'acme', env: 'dev', channel: 'stable', consumerId: 'edge-c', trustRoot, dataDir, clock, newId: () => `c-${Math.random().toString(36).slice(2)}`,
      fetchPack: async (d: string) => {
        downloads += 1;
        return served.get(d) as Uint8Array;
      },
    };
    const c = new RuntimeClient(opts);
    await c.start();
    expect(await c.offer(await notice(1, p1))).toMatchObject({ outcome: 'activated', version: 1 });
    await c.stop();
    const stateBefore = readFileSync(join(dataDir, 'state.json'), 'utf8');
    // what an offer of v2 leaves when the machine dies after writing part of the pack and the notice, before state.json is renamed
    const n2 = await notice(2, p2);
    writeFileSync(join(dataDir, 'packs', `${digestHex(p2.digest)}.pack`), p2.bytes.subarray(0, 100));
    writeFileSync(join(dataDir, 'notices', '2.jws'), n2);
    writeFileSync(join(dataDir, '.tmp-1-aaaaaaaaaaaa'), '{"half":');

    const again = new RuntimeClient(opts);
    expect(await again.start()).toMatchObject({ state: 'active', version: 1, packDigest: p1.digest, lastTrustedVersion: 1 });
    expect(readFileSync(join(dataDir, 'state.json'), 'utf8')).toBe(stateBefore);
    // the partial pack is not reused: it fails its digest, is deleted and downloaded again
    expect(await again.offer(n2)).toMatchObject({ outcome: 'activated', version: 2, packDigest: p2.digest });
    expect(downloads).toBe(2);
    expect(Buffer.compare(readFileSync(join(dataDir, 'packs', `${digestHex(p2.digest)}.pack`)), Buffer.from(p2.bytes))).toBe(0);
    await again.stop();
    const third = new RuntimeClient(opts);
    expect(await third.start()).toMatchObject({ state: 'active', version: 2, packDigest: p2.digest });
    expect(third.lookup('c-2')?.id).toBe('c-2');
    await third.stop();
    expect(readdirSync(dataDir).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });

  it('a refused pack leaves neither its bytes nor its notice under a final name, and the active release is untouched', async () => {
    const dataDir = join(tmp, 'consumer-refused');
    const p1 = packOf('d-1');
    const wrong = packOf('d-wrong');
    const p2 = packOf('d-2');
    const opts = { tenant: 'acme', env: 'dev', channel: 'stable', consumerId: 'edge-d', trustRoot, dataDir, clock, newId: () => `d-${Math.random().toString(36).slice(2)}`, fetchPack: async (d: string) => (d === p1.digest ? p1.bytes : wrong.bytes) };
    const c = new RuntimeClient(opts);
    await c.start();
    expect(await c.offer(await notice(1, p1))).toMatchObject({ outcome: 'activated', version: 1 });
    // the notice names p2; the download delivers other bytes of the same size
    expect(await c.offer(await notice(2, { digest: p2.digest, size: wrong.size }))).toMatchObject({ outcome: 'refused', code: 'RELEASE_PACK_DIGEST_MISMATCH' });
    await c.stop();
    expect(readdirSync(join(dataDir, 'packs'))).toEqual([`${digestHex(p1.digest)}.pack`]);
    expect(readdirSync(join(dataDir, 'notices'))).toEqual(['1.jws']);
    expect(readJson(join(dataDir, 'state.json'))).toMatchObject({ lastTrustedVersion: 1, active: { version: 1 } });
  });
});
