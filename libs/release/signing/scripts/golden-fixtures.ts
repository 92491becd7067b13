/**
 * Builds the golden fixture set of `@koa/release/verify` (committed under
 * libs/release/verify/src/__fixtures__/). Deterministic: keys are derived from fixed labels and
 * Ed25519 signatures are deterministic, so regenerating gives byte-identical files (a unit test
 * checks this). Regenerate with:
 *   node -r @swc-node/register libs/release/signing/scripts/generate-fixtures.ts
 */
import { createHmac, createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { canonicalJson, NOTICE_TYP, type ReleaseNoticeClaims } from '@koa/contracts';
import { TRUST_ROOT_TYP } from '@koa/release/verify';
import {
  FIXTURE_LAST_TRUSTED_VERSION,
  FIXTURE_NOW,
  FIXTURE_SCOPE,
  GOLDEN_MANIFEST_FILE,
  flipBase64urlChar,
  forgeCompactJws,
  sampleNoticeClaims,
  seededEd25519Jwk,
  type GoldenManifest,
  type GoldenNoticeCase,
  type GoldenTrustRootCase,
} from '@koa/release/verify/testing';
import { Ed25519KeySigner, createTrustRoot, signReleaseNotice, type Signer } from '../src/index';

const ROOT_EXPIRES = new Date('2030-01-01T00:00:00.000Z');
const NOW = FIXTURE_NOW.toISOString();

async function signer(label: string): Promise<Signer> {
  return Ed25519KeySigner.fromPrivateJwk(seededEd25519Jwk(label));
}

/** Signs arbitrary payload text as a General JSON trust root (for forged/odd documents). */
async function signGeneral(payloadText: string, signers: Signer[]): Promise<string> {
  const bytes = new TextEncoder().encode(payloadText);
  const signatures = [];
  for (const s of signers) {
    const [prot, , sig] = (await s.sign(bytes, { typ: TRUST_ROOT_TYP })).split('.');
    signatures.push({ protected: prot, signature: sig });
  }
  return canonicalJson({ payload: Buffer.from(bytes).toString('base64url'), signatures });
}

const decodePayload = (signedRoot: string): Record<string, unknown> =>
  JSON.parse(Buffer.from((JSON.parse(signedRoot) as { payload: string }).payload, 'base64url').toString('utf8')) as Record<string, unknown>;

/** Returns file name ⇒ exact content, including `manifest.json`. */
export async function buildGoldenFixtures(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const devRoot1 = await signer('dev-root-1');
  const devRoot2 = await signer('dev-root-2');
  const devRelease1 = await signer('dev-release-1');
  const devRelease2 = await signer('dev-release-2');
  const stagingRoot = await signer('staging-root-1');
  const stagingRelease = await signer('staging-release-1');
  const attacker = await signer('attacker');
  const releaseKey = async (s: Signer) => ({ kid: s.kid, jwk: await s.publicJwk() });

  // ---- trust roots ----------------------------------------------------------------------
  const devV1 = await createTrustRoot({ env: 'dev', version: 1, expires: ROOT_EXPIRES, rootSigners: [devRoot1], releaseKeys: [await releaseKey(devRelease1)] });
  const devV2 = await createTrustRoot({
    env: 'dev', version: 2, expires: ROOT_EXPIRES, rootSigners: [devRoot2], previousRootSigners: [devRoot1],
    releaseKeys: [await releaseKey(devRelease1), await releaseKey(devRelease2)],
  });
  const devV2NotByV1 = await createTrustRoot({ env: 'dev', version: 2, expires: ROOT_EXPIRES, rootSigners: [devRoot2], releaseKeys: [await releaseKey(devRelease2)] });
  const devV3Skip = await createTrustRoot({ env: 'dev', version: 3, expires: ROOT_EXPIRES, rootSigners: [devRoot2], previousRootSigners: [devRoot1], releaseKeys: [await releaseKey(devRelease2)] });
  const stagingV1 = await createTrustRoot({ env: 'staging', version: 1, expires: ROOT_EXPIRES, rootSigners: [stagingRoot], releaseKeys: [await releaseKey(stagingRelease)] });
  const devExpired = await createTrustRoot({ env: 'dev', version: 1, expires: new Date('2026-01-01T00:00:00.000Z'), rootSigners: [devRoot1], releaseKeys: [await releaseKey(devRelease1)] });
  const v1Parsed = JSON.parse(devV1) as { payload: string; signatures: Array<{ protected: string; signature: string }> };
  const devBadSig = canonicalJson({ ...v1Parsed, signatures: [{ ...v1Parsed.signatures[0], signature: flipBase64urlChar(v1Parsed.signatures[0].signature) }] });
  // the attacker swaps in their own release key but keeps the root signature
  const swapped = decodePayload(devV1) as { keys: Record<string, unknown>; roles: { release: { kids: string[] } } };
  const attackerKey = await releaseKey(attacker);
  delete swapped.keys[devRelease1.kid];
  swapped.keys[attackerKey.kid] = { alg: 'EdDSA', jwk: attackerKey.jwk };
  swapped.roles.release.kids = [attackerKey.kid];
  const devTampered = canonicalJson({ ...v1Parsed, payload: Buffer.from(canonicalJson(swapped)).toString('base64url') });
  const devNotCanonical = await signGeneral(JSON.stringify(decodePayload(devV1), null, 2), [devRoot1]);
  const withPrivate = decodePayload(devV1) as { keys: Record<string, { jwk: Record<string, unknown> }> };
  withPrivate.keys[devRelease1.kid].jwk['d'] = seededEd25519Jwk('dev-release-1').d;
  const devPrivateKey = await signGeneral(canonicalJson(withPrivate), [devRoot1]);
  const devSelfSignedByAttacker = await createTrustRoot({ env: 'dev', version: 2, expires: ROOT_EXPIRES, rootSigners: [attacker], releaseKeys: [await releaseKey(devRelease2)] });

  const roots: Record<string, string> = {
    'trust-root.dev.v1.json': devV1,
    'trust-root.dev.v2.json': devV2,
    'trust-root.dev.v2-not-signed-by-v1.json': devV2NotByV1,
    'trust-root.dev.v2-attacker.json': devSelfSignedByAttacker,
    'trust-root.dev.v3-skips-v2.json': devV3Skip,
    'trust-root.staging.v1.json': stagingV1,
    'trust-root.dev.expired.json': devExpired,
    'trust-root.dev.bad-signature.json': devBadSig,
    'trust-root.dev.tampered-payload.json': devTampered,
    'trust-root.dev.not-canonical.json': devNotCanonical,
    'trust-root.dev.private-key.json': devPrivateKey,
  };
  for (const [name, text] of Object.entries(roots)) files.set(name, text);

  const rootCase = (name: string, why: string, file: string, env: string, expect: 'valid' | string, previous?: string): GoldenTrustRootCase => ({
    name, why, file, env, now: NOW,
    ...(previous !== undefined && { previous }),
    ...(expect === 'valid' ? { expect: 'valid' as const } : { expect: 'TRUST_ROOT_INVALID' as const, reason: expect }),
  });
  const trustRootCases: GoldenTrustRootCase[] = [
    rootCase('root-valid', 'self-signed v1 by its root key', 'trust-root.dev.v1.json', 'dev', 'valid'),
    rootCase('root-staging-valid', 'staging has its own root', 'trust-root.staging.v1.json', 'staging', 'valid'),
    rootCase('root-wrong-env', 'a dev root pinned as staging', 'trust-root.dev.v1.json', 'staging', 'env'),
    rootCase('root-expired', 'expired before the frozen clock (freeze)', 'trust-root.dev.expired.json', 'dev', 'expired'),
    rootCase('root-bad-signature', 'root signature altered', 'trust-root.dev.bad-signature.json', 'dev', 'signature'),
    rootCase('root-tampered-payload', 'release key swapped for an attacker key, old signature kept', 'trust-root.dev.tampered-payload.json', 'dev', 'signature'),
    rootCase('root-not-canonical', 'payload is pretty-printed, not RFC 8785', 'trust-root.dev.not-canonical.json', 'dev', 'canonical'),
    rootCase('root-private-key', 'a key entry carries the private part d', 'trust-root.dev.private-key.json', 'dev', 'schema'),
    rootCase('rotation-v2-standalone', 'v2 self-signed by its new root key', 'trust-root.dev.v2.json', 'dev', 'valid'),
    rootCase('rotation-v1-to-v2', 'v2 signed by the v1 AND the v2 root keys', 'trust-root.dev.v2.json', 'dev', 'valid', 'trust-root.dev.v1.json'),
    rootCase('rotation-not-signed-by-v1', 'v2 signed only by its own new root key', 'trust-root.dev.v2-not-signed-by-v1.json', 'dev', 'rotation-signature', 'trust-root.dev.v1.json'),
    rootCase('rotation-attacker', 'an attacker-made v2 self-signed with their own root key', 'trust-root.dev.v2-attacker.json', 'dev', 'rotation-signature', 'trust-root.dev.v1.json'),
    rootCase('rotation-skip', 'v3 offered on top of v1 (must be exactly N+1)', 'trust-root.dev.v3-skips-v2.json', 'dev', 'version', 'trust-root.dev.v1.json'),
    rootCase('rotation-replay', 'v1 offered again on top of v1', 'trust-root.dev.v1.json', 'dev', 'version', 'trust-root.dev.v1.json'),
  ];

  // ---- notices ----------------------------------------------------------------------------
  const notices: GoldenNoticeCase[] = [];
  const notice = (name: string, why: string, jws: string, expect: GoldenNoticeCase['expect'], o: Partial<Pick<GoldenNoticeCase, 'trustRoot' | 'scope' | 'lastTrustedVersion'>> = {}): void => {
    const file = `notice.${name}.jws`;
    files.set(file, jws);
    notices.push({
      name, why, file, expect, now: NOW,
      trustRoot: o.trustRoot ?? 'trust-root.dev.v1.json',
      scope: o.scope ?? FIXTURE_SCOPE,
      lastTrustedVersion: o.lastTrustedVersion ?? FIXTURE_LAST_TRUSTED_VERSION,
    });
  };
  const sign = (s: Signer, claims: Partial<ReleaseNoticeClaims> = {}) => signReleaseNotice(s, sampleNoticeClaims(claims));
  const rawSign = async (s: Signer, payload: unknown, header: Record<string, unknown> = { typ: NOTICE_TYP }) =>
    s.sign(new TextEncoder().encode(JSON.stringify(payload)), header);

  const valid = await sign(devRelease1);
  const [vh, vp, vs] = valid.split('.');
  const devRelease1Header = JSON.parse(Buffer.from(vh, 'base64url').toString('utf8')) as Record<string, unknown>;
  notice('valid', 'version 5 > 4, in scope, signed by the dev release key', valid, 'valid');
  notice('valid-first', 'first notice a consumer ever sees (lastTrustedVersion 0)', valid, 'valid', { lastTrustedVersion: 0 });
  notice('valid-after-rotation', 'signed by the release key added in root v2', await sign(devRelease2), 'valid', { trustRoot: 'trust-root.dev.v2.json' });
  notice('tampered-payload', 'valid signature kept, payload changed to version 6', `${vh}.${Buffer.from(canonicalJson(sampleNoticeClaims({ version: 6 }))).toString('base64url')}.${vs}`, 'NOTICE_SIGNATURE_INVALID');
  notice('tampered-signature', 'one signature character changed', `${vh}.${vp}.${flipBase64urlChar(vs)}`, 'NOTICE_SIGNATURE_INVALID');
  const attackerPrivate = createPrivateKey({ key: seededEd25519Jwk('attacker'), format: 'jwk' });
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const sameBitsLast = B64[B64.indexOf(vs[vs.length - 1]) ^ 1]; // differs only in the unused low bits
  notice('signature-not-canonical', 'last signature character changed in its unused bits only: same bytes, different string (malleability)', `${vh}.${vp}.${vs.slice(0, -1)}${sameBitsLast}`, 'NOTICE_MALFORMED');
  notice('wrong-key-known-kid', 'signed by the attacker key, but the header names the dev release kid',
    await forgeCompactJws(devRelease1Header, Buffer.from(vp, 'base64url'), (input) => cryptoSign(null, input, attackerPrivate)), 'NOTICE_SIGNATURE_INVALID');
  notice('unknown-kid', 'signed by a key that is in no trust root', await sign(attacker), 'NOTICE_KEY_UNKNOWN');
  notice('other-env-key', 'claims are for dev, signed by the staging release key', await sign(stagingRelease), 'NOTICE_KEY_UNKNOWN');
  notice('root-key-signed', 'signed by the dev ROOT key: root keys may not sign notices', await sign(devRoot1), 'NOTICE_KEY_UNKNOWN');
  notice('new-key-old-root', 'signed by the release key added in v2, verified against v1', await sign(devRelease2), 'NOTICE_KEY_UNKNOWN');
  notice('expired', 'exp one second before the frozen clock (freeze attack)', await sign(devRelease1, { iat: FIXTURE_NOW.getTime() / 1000 - 3600, exp: FIXTURE_NOW.getTime() / 1000 - 1 }), 'NOTICE_EXPIRED');
  notice('replayed-same-version', 'version 4 = last trusted (replay)', await sign(devRelease1, { version: 4 }), 'NOTICE_VERSION_ROLLBACK');
  notice('rolled-back', 'version 3 < last trusted 4 (rollback)', await sign(devRelease1, { version: 3 }), 'NOTICE_VERSION_ROLLBACK');
  notice('wrong-tenant', 'tenant other', await sign(devRelease1, { tenant: 'other' }), 'NOTICE_SCOPE_MISMATCH');
  notice('wrong-env', 'env staging, signed by the dev release key', await sign(devRelease1, { env: 'staging' }), 'NOTICE_SCOPE_MISMATCH');
  notice('wrong-channel', 'channel beta', await sign(devRelease1, { channel: 'beta' }), 'NOTICE_SCOPE_MISMATCH');
  notice('alg-none', 'unsecured JWS (alg none, empty signature)', await forgeCompactJws({ alg: 'none', kid: devRelease1.kid, typ: NOTICE_TYP }, Buffer.from(vp, 'base64url'), ''), 'NOTICE_ALG_NOT_ALLOWED');
  const publicJwkSecret = Buffer.from(canonicalJson(await devRelease1.publicJwk()));
  notice('alg-hs256-public-key', 'HS256 with the public key as the HMAC secret (key confusion)',
    await forgeCompactJws({ alg: 'HS256', kid: devRelease1.kid, typ: NOTICE_TYP }, Buffer.from(vp, 'base64url'), (input) => createHmac('sha256', publicJwkSecret).update(input).digest()), 'NOTICE_ALG_NOT_ALLOWED');
  notice('alg-rs256', 'RS256 header', await forgeCompactJws({ alg: 'RS256', kid: devRelease1.kid, typ: NOTICE_TYP }, Buffer.from(vp, 'base64url'), Buffer.alloc(256, 7).toString('base64url')), 'NOTICE_ALG_NOT_ALLOWED');
  notice('alg-ed25519-spelling', 'the fully-specified Ed25519 alg name is not on the allowlist', await forgeCompactJws({ alg: 'Ed25519', kid: devRelease1.kid, typ: NOTICE_TYP }, Buffer.from(vp, 'base64url'), vs), 'NOTICE_ALG_NOT_ALLOWED');
  notice('missing-kid', 'no kid in the header', await forgeCompactJws({ alg: 'EdDSA', typ: NOTICE_TYP }, Buffer.from(vp, 'base64url'), vs), 'NOTICE_MALFORMED');
  notice('missing-typ', 'no typ in the header', await rawSign(devRelease1, sampleNoticeClaims(), {}), 'NOTICE_MALFORMED');
  notice('wrong-typ', 'typ JWT (a notice is koa-release+jwt)', await rawSign(devRelease1, sampleNoticeClaims(), { typ: 'JWT' }), 'NOTICE_MALFORMED');
  notice('embedded-jwk', 'header embeds the attacker key (jwk); keys come only from the trust root', await rawSign(attacker, sampleNoticeClaims(), { typ: NOTICE_TYP, jwk: await attacker.publicJwk() }), 'NOTICE_MALFORMED');
  notice('not-a-jws', 'plain text', 'this is not a JWS', 'NOTICE_MALFORMED');
  notice('two-parts', 'header and payload only', `${vh}.${vp}`, 'NOTICE_MALFORMED');
  notice('header-not-json', 'header is base64url of non-JSON', `${Buffer.from('not json').toString('base64url')}.${vp}.${vs}`, 'NOTICE_MALFORMED');
  notice('claims-missing-pack', 'correctly signed, but the claims lack pack', await rawSign(devRelease1, (({ pack: _pack, ...rest }) => rest)(sampleNoticeClaims())), 'NOTICE_MALFORMED');
  notice('claims-extra-field', 'correctly signed, but with an unknown claim', await rawSign(devRelease1, { ...sampleNoticeClaims(), admin: true }), 'NOTICE_MALFORMED');

  const manifest: GoldenManifest = {
    note: 'Generated by libs/release/signing/scripts/generate-fixtures.ts from fixed-label keys (public: never use them outside tests). Do not edit by hand.',
    notices,
    trustRoots: trustRootCases,
  };
  files.set(GOLDEN_MANIFEST_FILE, `${JSON.stringify(manifest, null, 2)}\n`);
  return files;
}
