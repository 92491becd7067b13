// Real files in a temp directory (no servers): key files, DevKeyring, notice signing, rotation.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { isKoaRefusal, NOTICE_TYP } from '@koa/contracts';
import { loadTrustRoot, verifyReleaseNotice } from '@koa/release/verify';
import { FIXTURE_NOW, FIXTURE_SCOPE, sampleNoticeClaims } from '@koa/release/verify/testing';
import { createTrustRoot, DevKeyring, Ed25519KeySigner, LocalKeyFileSigner, signReleaseNotice } from './index';


let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'koa-signing-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no refusal';
  } catch (e) {
    if (!isKoaRefusal(e)) throw e;
    return e.code;
  }
}

describe('LocalKeyFileSigner', () => {
  it('creates a 0600 key file in a 0700 directory and reopens the same key', async () => {
    const file = join(dir, 'keys', 'release.key.jwk');
    const a = await LocalKeyFileSigner.openOrCreate(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o700);
    const b = await LocalKeyFileSigner.openOrCreate(file, { kid: a.kid });
    expect(b.kid).toBe(a.kid);
    expect(a.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('ends with one key when several openers race to create it', async () => {
    const file = join(dir, 'race.key.jwk');
    const signers = await Promise.all([1, 2, 3, 4].map(() => LocalKeyFileSigner.openOrCreate(file)));
    expect(new Set(signers.map((s) => s.kid)).size).toBe(1);
  });

  it('never shows the private key (JSON, inspect, enumerable properties)', async () => {
    const file = join(dir, 'k.jwk');
    const signer = await LocalKeyFileSigner.openOrCreate(file);
    const d = (JSON.parse(readFileSync(file, 'utf8')) as { d: string }).d;
    expect(JSON.stringify(signer)).not.toContain(d);
    expect(inspect(signer, { depth: 10, showHidden: true })).not.toContain(d);
    expect(JSON.stringify(await signer.publicJwk())).not.toContain(d);
    expect(Object.keys(await signer.publicJwk()).sort()).toEqual(['crv', 'kty', 'x']);
  });

  it('refuses a key file that is a symbolic link', async () => {
    const real = join(dir, 'real.jwk');
    await LocalKeyFileSigner.openOrCreate(real);
    symlinkSync(real, join(dir, 'link.jwk'));
    expect(await codeOf(LocalKeyFileSigner.openOrCreate(join(dir, 'link.jwk')))).toBe('CONFIG_INVALID');
  });

  it('refuses a key file readable by others', async () => {
    const file = join(dir, 'open.jwk');
    await LocalKeyFileSigner.openOrCreate(file);
    chmodSync(file, 0o644);
    expect(await codeOf(LocalKeyFileSigner.openOrCreate(file))).toBe('CONFIG_INVALID');
  });

  it('refuses a key file whose x is not the public half of d, or whose kid differs from the expected one', async () => {
    const a = join(dir, 'a.jwk');
    const b = join(dir, 'b.jwk');
    await LocalKeyFileSigner.openOrCreate(a);
    const bSigner = await LocalKeyFileSigner.openOrCreate(b);
    const mixed = { ...(JSON.parse(readFileSync(a, 'utf8')) as object), x: (await bSigner.publicJwk()).x, kid: undefined };
    writeFileSync(a, JSON.stringify(mixed), { mode: 0o600 });
    expect(await codeOf(LocalKeyFileSigner.openOrCreate(a))).toBe('CONFIG_INVALID');
    expect(await codeOf(LocalKeyFileSigner.openOrCreate(b, { kid: 'A'.repeat(43) }))).toBe('CONFIG_INVALID');
    expect(await codeOf(LocalKeyFileSigner.openOrCreate(join(dir, 'missing.jwk'), { kid: bSigner.kid }))).toBe('CONFIG_INVALID');
  });

  it('sets alg and kid itself and refuses a header naming another alg or kid', async () => {
    const signer = await Ed25519KeySigner.generate();
    const jws = await signer.sign(new TextEncoder().encode('{}'), { typ: 'x' });
    expect(JSON.parse(Buffer.from(jws.split('.')[0], 'base64url').toString())).toEqual({ typ: 'x', alg: 'EdDSA', kid: signer.kid });
    await expect(signer.sign(new Uint8Array(1), { alg: 'HS256' })).rejects.toThrow(TypeError);
    await expect(signer.sign(new Uint8Array(1), { kid: 'other' })).rejects.toThrow(TypeError);
  });
});

describe('signReleaseNotice', () => {
  it('signs canonical claims with alg EdDSA, the signer kid and typ koa-release+jwt', async () => {
    const signer = await Ed25519KeySigner.generate();
    const root = await createTrustRoot({ env: 'dev', version: 1, expires: new Date('2030-01-01Z'), rootSigners: [await Ed25519KeySigner.generate()], releaseKeys: [{ kid: signer.kid, jwk: await signer.publicJwk() }] });
    const jws = await signReleaseNotice(signer, sampleNoticeClaims());
    expect(JSON.parse(Buffer.from(jws.split('.')[0], 'base64url').toString())).toEqual({ alg: 'EdDSA', kid: signer.kid, typ: NOTICE_TYP });
    const trustRoot = await loadTrustRoot(root, { env: 'dev', now: FIXTURE_NOW });
    const v = await verifyReleaseNotice(jws, { trustRoot, scope: FIXTURE_SCOPE, lastTrustedVersion: 0, now: FIXTURE_NOW });
    expect(v.claims).toEqual(sampleNoticeClaims());
  });

  it('refuses to sign invalid claims (NOTICE_MALFORMED)', async () => {
    const signer = await Ed25519KeySigner.generate();
    expect(await codeOf(signReleaseNotice(signer, { ...sampleNoticeClaims(), version: 0 }))).toBe('NOTICE_MALFORMED');
    expect(await codeOf(signReleaseNotice(signer, { ...sampleNoticeClaims(), extra: 1 } as never))).toBe('NOTICE_MALFORMED');
    expect(await codeOf(signReleaseNotice(signer, sampleNoticeClaims({ iat: 10, exp: 5 })))).toBe('NOTICE_MALFORMED');
  });
});

describe('createTrustRoot', () => {
  it('refuses private key material and kids that are not thumbprints', async () => {
    const root = await Ed25519KeySigner.generate();
    const rel = await Ed25519KeySigner.generate();
    const base = { env: 'dev', version: 1, expires: new Date('2030-01-01Z'), rootSigners: [root] };
    expect(await codeOf(createTrustRoot({ ...base, releaseKeys: [{ kid: rel.kid, jwk: { ...(await rel.publicJwk()), d: 'A'.repeat(43) } }] }))).toBe('CONFIG_INVALID');
    expect(await codeOf(createTrustRoot({ ...base, releaseKeys: [{ kid: root.kid, jwk: await rel.publicJwk() }] }))).toBe('CONFIG_INVALID');
    expect(await codeOf(createTrustRoot({ ...base, rootThreshold: 2, releaseKeys: [{ kid: rel.kid, jwk: await rel.publicJwk() }] }))).toBe('CONFIG_INVALID');
  });

  it('supports a 2-of-3 root: two signatures load, one does not', async () => {
    const roots = [await Ed25519KeySigner.generate(), await Ed25519KeySigner.generate(), await Ed25519KeySigner.generate()];
    const rel = await Ed25519KeySigner.generate();
    const signed = JSON.parse(await createTrustRoot({ env: 'prod', version: 1, expires: new Date('2030-01-01Z'), rootSigners: roots, rootThreshold: 2, releaseKeys: [{ kid: rel.kid, jwk: await rel.publicJwk() }] })) as { payload: string; signatures: unknown[] };
    expect(signed.signatures).toHaveLength(3);
    await expect(loadTrustRoot({ ...signed, signatures: signed.signatures.slice(0, 2) }, { env: 'prod', now: FIXTURE_NOW })).resolves.toMatchObject({ rootThreshold: 2 });
    expect(await codeOf(loadTrustRoot({ ...signed, signatures: signed.signatures.slice(1, 2) }, { env: 'prod', now: FIXTURE_NOW }))).toBe('TRUST_ROOT_INVALID');
    // the same signature twice counts once
    expect(await codeOf(loadTrustRoot({ ...signed, signatures: [signed.signatures[0], signed.signatures[0]] }, { env: 'prod', now: FIXTURE_NOW }))).toBe('TRUST_ROOT_INVALID');
  });
});

describe('DevKeyring', () => {
  it('generates distinct root and release keys per environment and a loadable trust root', async () => {
    let now = FIXTURE_NOW;
    const dev = await DevKeyring.open(dir, 'dev', { now: () => now });
    const prod = await DevKeyring.open(dir, 'prod', { now: () => now });
    expect(dev.rootSigner.kid).not.toBe(dev.releaseSigner.kid);
    expect(dev.releaseSigner.kid).not.toBe(prod.releaseSigner.kid);
    const devRoot = await loadTrustRoot(await dev.trustRoot(), { env: 'dev', now });
    expect([...devRoot.releaseKeys.keys()]).toEqual([dev.releaseSigner.kid]);
    expect(await codeOf(loadTrustRoot(await dev.trustRoot(), { env: 'prod', now }))).toBe('TRUST_ROOT_INVALID');
    expect(statSync(join(dir, 'dev', 'root.key.jwk')).mode & 0o777).toBe(0o600);

    // reopening (another process) gives the same keys and the same stored trust root
    const again = await DevKeyring.open(dir, 'dev', { now: () => now });
    expect(again.releaseSigner.kid).toBe(dev.releaseSigner.kid);
    expect(await again.trustRoot()).toBe(await dev.trustRoot());

    // past half its lifetime the root is re-issued as v2, which a consumer pinned to v1 accepts
    now = new Date(FIXTURE_NOW.getTime() + 200 * 86_400_000);
    const v2 = await loadTrustRoot(await again.trustRoot(), { env: 'dev', now, previous: devRoot });
    expect(v2.version).toBe(2);
    expect(v2.expires.getTime()).toBeGreaterThan(devRoot.expires.getTime());
  });

  it('refuses a stored trust root file that is not one', async () => {
    const dev = await DevKeyring.open(dir, 'dev', { now: () => FIXTURE_NOW });
    writeFileSync(dev.trustRootFile, '{"nope":1}');
    expect(await codeOf(dev.trustRoot())).toBe('TRUST_ROOT_INVALID');
  });
});
