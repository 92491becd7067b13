// Order of the verification steps, option guards and pack byte checks (frozen clock, exact codes).
import { createHash } from 'node:crypto';
import { isKoaRefusal, NOTICE_TYP } from '@koa/contracts';
import { loadTrustRoot, peekNoticeClaims, verifyPackBytes, verifyReleaseNotice, type TrustRoot, type VerifyNoticeOptions } from './index';
import { FIXTURE_LAST_TRUSTED_VERSION, FIXTURE_NOW, FIXTURE_SCOPE, forgeCompactJws, readGoldenFixtures, sampleNoticeClaims } from './testing';

const { read } = readGoldenFixtures();
let root: TrustRoot;
let opts: VerifyNoticeOptions;

beforeAll(async () => {
  root = await loadTrustRoot(read('trust-root.dev.v1.json'), { env: 'dev', now: FIXTURE_NOW });
  opts = { trustRoot: root, scope: FIXTURE_SCOPE, lastTrustedVersion: FIXTURE_LAST_TRUSTED_VERSION, now: FIXTURE_NOW };
});

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'no refusal';
  } catch (e) {
    if (!isKoaRefusal(e)) throw e;
    return e.code;
  }
}

describe('step order', () => {
  it('refuses alg none before looking up an unknown kid', async () => {
    const jws = await forgeCompactJws({ alg: 'none', kid: 'no-such-kid', typ: NOTICE_TYP }, sampleNoticeClaims(), '');
    expect(await codeOf(verifyReleaseNotice(jws, opts))).toBe('NOTICE_ALG_NOT_ALLOWED');
  });

  it('checks scope before version, and version before expiry', async () => {
    const expiredRollback = read('notice.expired.jws');
    // expired notice (version 5) with lastTrustedVersion 5: rollback is reported, not expiry
    expect(await codeOf(verifyReleaseNotice(expiredRollback, { ...opts, lastTrustedVersion: 5 }))).toBe('NOTICE_VERSION_ROLLBACK');
    // and with a foreign scope, scope is reported first
    expect(await codeOf(verifyReleaseNotice(expiredRollback, { ...opts, lastTrustedVersion: 5, scope: { ...FIXTURE_SCOPE, channel: 'beta' } }))).toBe('NOTICE_SCOPE_MISMATCH');
  });

  it('reports NOTICE_EXPIRED with the authentic claims in details (only after steps 1-7 passed)', async () => {
    try {
      await verifyReleaseNotice(read('notice.expired.jws'), opts);
      throw new Error('expected a refusal');
    } catch (e) {
      if (!isKoaRefusal(e)) throw e;
      expect(e.code).toBe('NOTICE_EXPIRED');
      expect(e.details).toMatchObject({ version: 5, releaseId: 'r-task-0005', packDigest: sampleNoticeClaims().pack.digest, packSize: 4096 });
    }
  });

  it('treats exp equal to now as expired', async () => {
    const valid = await verifyReleaseNotice(read('notice.valid.jws'), opts);
    const atExpiry = new Date(valid.claims.exp * 1000);
    const rootAtExpiry = await loadTrustRoot(read('trust-root.dev.v1.json'), { env: 'dev', now: atExpiry });
    expect(await codeOf(verifyReleaseNotice(read('notice.valid.jws'), { ...opts, trustRoot: rootAtExpiry, now: atExpiry }))).toBe('NOTICE_EXPIRED');
    const justBefore = new Date(atExpiry.getTime() - 1000);
    await expect(verifyReleaseNotice(read('notice.valid.jws'), { ...opts, trustRoot: rootAtExpiry, now: justBefore })).resolves.toMatchObject({ kid: valid.kid });
  });
});

describe('options are guarded', () => {
  it('refuses a trust root that did not come from loadTrustRoot', async () => {
    const fake = { ...root, releaseKeys: new Map(root.releaseKeys) } as TrustRoot;
    expect(await codeOf(verifyReleaseNotice(read('notice.valid.jws'), { ...opts, trustRoot: fake }))).toBe('TRUST_ROOT_INVALID');
  });

  it('refuses a trust root of another environment than the scope', async () => {
    const staging = await loadTrustRoot(read('trust-root.staging.v1.json'), { env: 'staging', now: FIXTURE_NOW });
    expect(await codeOf(verifyReleaseNotice(read('notice.valid.jws'), { ...opts, trustRoot: staging }))).toBe('TRUST_ROOT_INVALID');
  });

  it('refuses once the pinned trust root has expired', async () => {
    const later = new Date('2031-01-01T00:00:00Z');
    expect(await codeOf(verifyReleaseNotice(read('notice.valid.jws'), { ...opts, now: later }))).toBe('TRUST_ROOT_INVALID');
  });

  it.each([[-1], [1.5], [Number.NaN]])('refuses lastTrustedVersion %p', async (v) => {
    expect(await codeOf(verifyReleaseNotice(read('notice.valid.jws'), { ...opts, lastTrustedVersion: v }))).toBe('CONFIG_INVALID');
  });

  it('refuses an invalid clock and an invalid scope', async () => {
    expect(await codeOf(verifyReleaseNotice(read('notice.valid.jws'), { ...opts, now: new Date('nope') }))).toBe('CONFIG_INVALID');
    expect(await codeOf(verifyReleaseNotice(read('notice.valid.jws'), { ...opts, scope: { ...FIXTURE_SCOPE, tenant: 'a.b' } }))).toBe('CONFIG_INVALID');
  });

  it('keeps loaded trust roots immutable', () => {
    expect(() => (root.releaseKeys as Map<string, unknown>).set('x', {})).toThrow(TypeError);
    expect(() => (root.releaseKeys as Map<string, unknown>).delete('x')).toThrow(TypeError);
    expect(Object.isFrozen(root)).toBe(true);
    expect(Object.isFrozen(root.document.roles.release.kids)).toBe(true);
  });

  it('refuses an oversized notice and non-string input as NOTICE_MALFORMED', async () => {
    expect(await codeOf(verifyReleaseNotice('a'.repeat(20_000), opts))).toBe('NOTICE_MALFORMED');
    expect(await codeOf(verifyReleaseNotice(42 as unknown as string, opts))).toBe('NOTICE_MALFORMED');
  });

  it('refuses trust roots given as garbage with TRUST_ROOT_INVALID, bad options with CONFIG_INVALID', async () => {
    expect(await codeOf(loadTrustRoot('not json', { env: 'dev', now: FIXTURE_NOW }))).toBe('TRUST_ROOT_INVALID');
    expect(await codeOf(loadTrustRoot({ payload: 'x', signatures: [] }, { env: 'dev', now: FIXTURE_NOW }))).toBe('TRUST_ROOT_INVALID');
    expect(await codeOf(loadTrustRoot(read('trust-root.dev.v1.json'), { env: 'DEV', now: FIXTURE_NOW }))).toBe('CONFIG_INVALID');
  });

  it('accepts the parsed object form of a trust root and keeps its digest', async () => {
    const fromObject = await loadTrustRoot(JSON.parse(read('trust-root.dev.v1.json')) as object, { env: 'dev', now: FIXTURE_NOW });
    expect(fromObject.digest).toBe(root.digest);
    expect(fromObject.raw).toBe(read('trust-root.dev.v1.json'));
  });
});

describe('peekNoticeClaims', () => {
  it('reads claims without verifying, and never throws', () => {
    expect(peekNoticeClaims(read('notice.rolled-back.jws'))?.version).toBe(3);
    expect(peekNoticeClaims('garbage')).toBeUndefined();
    expect(peekNoticeClaims(undefined)).toBeUndefined();
  });
});

describe('verifyPackBytes', () => {
  const bytes = new TextEncoder().encode('a small pack');
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

  it('accepts matching size and digest', () => {
    expect(() => verifyPackBytes(bytes, { digest, size: bytes.byteLength })).not.toThrow();
  });

  it.each([
    ['one byte short', 'RELEASE_PACK_SIZE_MISMATCH', bytes.subarray(1), digest, bytes.byteLength],
    ['one byte extra', 'RELEASE_PACK_SIZE_MISMATCH', new Uint8Array([...bytes, 0]), digest, bytes.byteLength],
    ['same size, one bit flipped', 'RELEASE_PACK_DIGEST_MISMATCH', new Uint8Array(bytes.map((b, i) => (i === 3 ? b ^ 1 : b))), digest, bytes.byteLength],
    ['malformed expected digest', 'RELEASE_PACK_DIGEST_MISMATCH', bytes, 'md5:abc', bytes.byteLength],
    ['non-positive expected size', 'RELEASE_PACK_SIZE_MISMATCH', bytes, digest, 0],
  ] as const)('%s ⇒ %s', async (_name, code, b, d, size) => {
    expect(await codeOf(() => verifyPackBytes(b, { digest: d, size }))).toBe(code);
  });
});
