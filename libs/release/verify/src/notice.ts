import { compactVerify } from 'jose';
import { Env, KoaRefusal, NOTICE_TYP, ReleaseNoticeClaims, Token, type RefusalCode } from '@koa/contracts';
import type { z } from 'zod';
import { decodeBase64url, decodeJsonObject } from './base64url';
import { ALLOWED_ALGS, MAX_NOTICE_CHARS, type AllowedAlg } from './constants';
import { isLoadedTrustRoot, type TrustRoot } from './trust-root';

/** What the consumer (or the release service) is: the notice must be for exactly this scope. */
export interface NoticeScope {
  readonly tenant: string;
  readonly env: string;
  readonly channel: string;
}

export interface VerifyNoticeOptions {
  /** the pinned trust root of `scope.env`, from `loadTrustRoot` */
  readonly trustRoot: TrustRoot;
  readonly scope: NoticeScope;
  /** the highest notice version already trusted for this scope (0 if none): the new one must be greater */
  readonly lastTrustedVersion: number;
  /** the verifier clock (injected) */
  readonly now: Date;
}

/** The protected header of a release notice: exactly these three parameters. */
export interface NoticeHeader {
  readonly alg: AllowedAlg;
  readonly kid: string;
  readonly typ: typeof NOTICE_TYP;
}

export interface VerifiedNotice {
  readonly claims: ReleaseNoticeClaims;
  readonly kid: string;
  readonly header: NoticeHeader;
  /** the exact compact JWS that was verified (persist these bytes, not a re-serialisation) */
  readonly jws: string;
}

const HEADER_PARAMS = new Set(['alg', 'kid', 'typ']);
const UTF8 = new TextDecoder('utf-8', { fatal: true });

const refuse = (code: RefusalCode, message: string, details: Record<string, unknown> = {}, cause?: unknown): KoaRefusal =>
  new KoaRefusal(code, message, details, cause === undefined ? undefined : { cause });

/**
 * Verifies a signed release notice (compact JWS) against a pinned trust root, offline.
 *
 * The steps run in this order and each fails closed with its own code; nothing turns a step off
 * (ARCHITECTURE.md §6, docs/release-notice.md). TUF client-workflow references in brackets.
 *
 *  0. options: the trust root came from `loadTrustRoot`, is for `scope.env` and has not expired
 *     at `now` [5.3.10] ⇒ TRUST_ROOT_INVALID; `lastTrustedVersion`/`now` sane ⇒ CONFIG_INVALID
 *  1. structure: three base64url parts, a JSON header with exactly `alg`, `kid`, `typ`
 *     (`typ` = `koa-release+jwt`) ⇒ NOTICE_MALFORMED. The payload is NOT interpreted yet.
 *  2. algorithm allowlist (`EdDSA` only; `none`, HS*, RS*, ... refused before any key lookup) ⇒ NOTICE_ALG_NOT_ALLOWED
 *  3. key by `kid` from the root's RELEASE role for this environment only (root keys and other
 *     environments' keys are unknown here) ⇒ NOTICE_KEY_UNKNOWN
 *  4. signature over the exact bytes [5.4.2, arbitrary software attack] ⇒ NOTICE_SIGNATURE_INVALID
 *  5. claims: UTF-8 JSON matching `ReleaseNoticeClaims` (parsed only now that they are authentic) ⇒ NOTICE_MALFORMED
 *  6. scope: tenant, env and channel equal the caller's [mix-and-match] ⇒ NOTICE_SCOPE_MISMATCH
 *  7. version > lastTrustedVersion [5.4.3, rollback attack] ⇒ NOTICE_VERSION_ROLLBACK
 *  8. not expired: `exp` > `now` [5.4.4, freeze attack] ⇒ NOTICE_EXPIRED
 *  9. (separately, when the bytes are at hand) `verifyPackBytes` [5.7.3 length and hashes]
 *
 * Because expiry is the LAST check, NOTICE_EXPIRED guarantees steps 1–7 passed; its `details`
 * carry the (authentic) version, releaseId, pack digest and size. A runtime consumer relies on
 * this to keep serving an already-active pack whose notice has gone stale (health
 * `degraded-stale`) without ever accepting an expired notice as new.
 *
 * @example
 * const v = await verifyReleaseNotice(jws, { trustRoot, scope: { tenant, env, channel }, lastTrustedVersion: 7, now: clock() });
 * verifyPackBytes(bytes, v.claims.pack);
 */
export async function verifyReleaseNotice(compactJws: string, o: VerifyNoticeOptions): Promise<VerifiedNotice> {
  // 0. options
  const { trustRoot, scope, lastTrustedVersion, now } = o ?? ({} as VerifyNoticeOptions);
  if (!isLoadedTrustRoot(trustRoot)) throw refuse('TRUST_ROOT_INVALID', 'trustRoot was not produced by loadTrustRoot', { reason: 'not-loaded' });
  if (!scope || !Token.safeParse(scope.tenant).success || !Env.safeParse(scope.env).success || !Token.safeParse(scope.channel).success) {
    throw refuse('CONFIG_INVALID', `verifyReleaseNotice: scope ${JSON.stringify(scope)} is not {tenant, env, channel} tokens`);
  }
  if (!Number.isSafeInteger(lastTrustedVersion) || lastTrustedVersion < 0) {
    throw refuse('CONFIG_INVALID', `verifyReleaseNotice: lastTrustedVersion ${String(lastTrustedVersion)} is not a non-negative integer`);
  }
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw refuse('CONFIG_INVALID', 'verifyReleaseNotice: now must be a valid Date');
  if (trustRoot.env !== scope.env) {
    throw refuse('TRUST_ROOT_INVALID', `trust root is for env ${trustRoot.env} but the scope env is ${scope.env}`, { reason: 'env' });
  }
  if (!(trustRoot.expires.getTime() > now.getTime())) {
    throw refuse('TRUST_ROOT_INVALID', `trust root v${trustRoot.version} for ${trustRoot.env} expired at ${trustRoot.expires.toISOString()}`, { reason: 'expired' });
  }

  // 1. structure (header only; the payload stays opaque until the signature verifies)
  if (typeof compactJws !== 'string') throw refuse('NOTICE_MALFORMED', `notice is a ${typeof compactJws}, not a compact JWS string`, { step: 'parse' });
  if (compactJws.length > MAX_NOTICE_CHARS) throw refuse('NOTICE_MALFORMED', `notice is longer than ${MAX_NOTICE_CHARS} characters`, { step: 'parse' });
  const parts = compactJws.split('.');
  if (parts.length !== 3) throw refuse('NOTICE_MALFORMED', `notice has ${parts.length} dot-separated parts, a compact JWS has 3`, { step: 'parse' });
  const [headerPart, payloadPart, signaturePart] = parts;
  const { json: header } = decodeJsonObject(headerPart, 'notice protected header', 'NOTICE_MALFORMED', { step: 'parse' });
  if (payloadPart.length === 0) throw refuse('NOTICE_MALFORMED', 'notice payload is empty', { step: 'parse' });
  decodeBase64url(payloadPart, 'notice payload', 'NOTICE_MALFORMED', { step: 'parse' });
  decodeBase64url(signaturePart, 'notice signature', 'NOTICE_MALFORMED', { step: 'parse' });
  const unexpected = Object.keys(header).filter((k) => !HEADER_PARAMS.has(k));
  if (unexpected.length > 0) {
    throw refuse('NOTICE_MALFORMED', `notice header has parameters other than alg, kid, typ: ${unexpected.slice(0, 5).join(', ')}`, { step: 'parse' });
  }
  if (typeof header['alg'] !== 'string') throw refuse('NOTICE_MALFORMED', 'notice header has no alg', { step: 'parse' });
  if (typeof header['kid'] !== 'string' || header['kid'].length === 0 || header['kid'].length > 128) {
    throw refuse('NOTICE_MALFORMED', 'notice header has no kid (or it is not a string of 1..128 characters)', { step: 'parse' });
  }
  if (header['typ'] !== NOTICE_TYP) throw refuse('NOTICE_MALFORMED', `notice header typ must be ${NOTICE_TYP}, got ${JSON.stringify(header['typ'])}`, { step: 'parse' });
  const alg = header['alg'];
  const kid = header['kid'];

  // 2. algorithm allowlist — before any key is looked up
  if (!(ALLOWED_ALGS as readonly string[]).includes(alg)) {
    throw refuse('NOTICE_ALG_NOT_ALLOWED', `notice alg ${JSON.stringify(alg.slice(0, 32))} is not allowed (allowed: ${ALLOWED_ALGS.join(', ')})`, { alg: alg.slice(0, 32) });
  }

  // 3. key by kid, release role of this environment's pinned root only
  const key = trustRoot.releaseKeys.get(kid);
  if (key === undefined) {
    throw refuse('NOTICE_KEY_UNKNOWN', `notice kid ${kid} is not a release key of the ${trustRoot.env} trust root v${trustRoot.version}`, { kid, trustRootVersion: trustRoot.version });
  }

  // 4. signature
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(compactJws, key, { algorithms: [...ALLOWED_ALGS] }));
  } catch (cause) {
    const code = (cause as { code?: string })?.code === 'ERR_JWS_INVALID' ? 'NOTICE_MALFORMED' : 'NOTICE_SIGNATURE_INVALID';
    throw refuse(code, `notice signature does not verify with release key ${kid}`, { kid }, cause);
  }

  // 5. claims (authentic bytes, now interpreted)
  let raw: unknown;
  try {
    raw = JSON.parse(UTF8.decode(payload));
  } catch (cause) {
    throw refuse('NOTICE_MALFORMED', 'notice payload is not UTF-8 JSON', { step: 'claims', kid }, cause);
  }
  const parsed = ReleaseNoticeClaims.safeParse(raw);
  if (!parsed.success) throw refuse('NOTICE_MALFORMED', `notice claims invalid: ${issues(parsed.error)}`, { step: 'claims', kid });
  const claims = parsed.data;
  if (claims.iat > claims.exp) throw refuse('NOTICE_MALFORMED', `notice claims invalid: iat ${claims.iat} is after exp ${claims.exp}`, { step: 'claims', kid });
  const about = { kid, version: claims.version, releaseId: claims.releaseId };

  // 6. scope
  for (const field of ['tenant', 'env', 'channel'] as const) {
    if (claims[field] !== scope[field]) {
      throw refuse('NOTICE_SCOPE_MISMATCH', `notice ${field} ${JSON.stringify(claims[field])} is not this consumer's ${JSON.stringify(scope[field])}`, { ...about, field });
    }
  }

  // 7. rollback / replay
  if (!(claims.version > lastTrustedVersion)) {
    throw refuse('NOTICE_VERSION_ROLLBACK', `notice version ${claims.version} is not greater than the last trusted version ${lastTrustedVersion}`, { ...about, lastTrustedVersion });
  }

  // 8. freeze
  if (!(claims.exp * 1000 > now.getTime())) {
    throw refuse('NOTICE_EXPIRED', `notice version ${claims.version} expired at ${new Date(claims.exp * 1000).toISOString()} (now ${now.toISOString()})`, {
      ...about,
      exp: claims.exp,
      packDigest: claims.pack.digest,
      packSize: claims.pack.size,
    });
  }

  return Object.freeze({ claims: Object.freeze({ ...claims, pack: Object.freeze({ ...claims.pack }) }), kid, header: Object.freeze({ alg: alg as AllowedAlg, kid, typ: NOTICE_TYP }), jws: compactJws });
}

/**
 * UNVERIFIED look at a notice's claims, for diagnostics only (e.g. to put the claimed version in a
 * refusal report). Never base a decision on it. Returns undefined for anything unparseable.
 */
export function peekNoticeClaims(compactJws: unknown): Partial<ReleaseNoticeClaims> | undefined {
  if (typeof compactJws !== 'string' || compactJws.length > MAX_NOTICE_CHARS) return undefined;
  const parts = compactJws.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const { json } = decodeJsonObject(parts[1], 'payload', 'NOTICE_MALFORMED');
    return json as Partial<ReleaseNoticeClaims>;
  } catch {
    return undefined;
  }
}

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
