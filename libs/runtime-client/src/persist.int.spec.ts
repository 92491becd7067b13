// Persistence while verifying: the pack and notice are written to temp files during verification
// and only take their final names once every check passed (offline, real files, signed notices).
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, digestHex, sha256Digest } from '@koa/contracts';
import { PACK_FORMAT, PACK_PARTS, encodePack, readUstar, writeUstar } from '@koa/pack-format';
import { loadTrustRoot, type TrustRoot } from '@koa/release/verify';
import { DevKeyring, signReleaseNotice } from '@koa/release/signing';
import { PackStore } from './pack-store';
import { RuntimeClient } from './index';


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
