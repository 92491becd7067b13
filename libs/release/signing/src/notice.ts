import { canonicalJson, KoaRefusal, NOTICE_TYP, ReleaseNoticeClaims } from '@koa/contracts';
import type { Signer } from './signer';

/**
 * Signs a release notice: compact JWS, protected header `{ alg: 'EdDSA', kid, typ: 'koa-release+jwt' }`,
 * payload = RFC 8785 canonical JSON of the claims (docs/release-notice.md).
 * The claims are validated first (strict `ReleaseNoticeClaims`): anything else throws
 * NOTICE_MALFORMED naming the fields, so the service can never sign a notice a consumer refuses
 * as malformed.
 *
 * @example
 * const jws = await signReleaseNotice(keyring.releaseSigner, {
 *   iss: 'koa:konnaxion-release', tenant, env, channel, version, releaseId, caseId,
 *   pack: { digest, size }, provenanceDigest, evidenceDigest, iat, exp });
 */
export async function signReleaseNotice(signer: Signer, claims: ReleaseNoticeClaims): Promise<string> {
  const parsed = ReleaseNoticeClaims.safeParse(claims);
  if (!parsed.success) {
    const fields = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new KoaRefusal('NOTICE_MALFORMED', `refusing to sign invalid notice claims: ${fields.join('; ')}`, { fields: parsed.error.issues.slice(0, 5).map((i) => i.path.join('.')) });
  }
  if (parsed.data.iat > parsed.data.exp) throw new KoaRefusal('NOTICE_MALFORMED', `refusing to sign notice claims: iat ${parsed.data.iat} is after exp ${parsed.data.exp}`);
  if (signer.alg !== 'EdDSA') throw new KoaRefusal('NOTICE_ALG_NOT_ALLOWED', `signer alg ${String(signer.alg)} is not allowed`);
  const payload = new TextEncoder().encode(canonicalJson(parsed.data));
  return signer.sign(payload, { alg: 'EdDSA', kid: signer.kid, typ: NOTICE_TYP });
}
