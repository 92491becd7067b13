import { canonicalJson, Env, KoaRefusal } from '@koa/contracts';
import {
  encodeTrustRootPayload,
  PublicEd25519JwkSchema,
  TRUST_ROOT_SPEC_VERSION,
  TRUST_ROOT_TYP,
  TRUST_ROOT_TYPE,
  type SignedTrustRoot,
  type TrustRootDocument,
} from '@koa/release/verify';
import { thumbprintOf, type Signer } from './signer';

/** A signed trust root serialised as JSON text (JWS General JSON Serialization); what consumers pin. */
export type SignedTrustRootJson = string;

export interface CreateTrustRootOptions {
  readonly env: string;
  /** 1 for a new environment; previous + 1 for a rotation */
  readonly version: number;
  readonly expires: Date;
  /** the root role of the NEW document; each signs it */
  readonly rootSigners: readonly Signer[];
  /** how many root signatures a verifier requires; default: all of `rootSigners` */
  readonly rootThreshold?: number;
  /** the release role: public keys allowed to sign notices for `env` (`kid` must be the thumbprint) */
  readonly releaseKeys: ReadonlyArray<{ readonly kid: string; readonly jwk: unknown }>;
  /**
   * Rotation: the root signers of version N that must also sign N+1 (a threshold of them).
   * Their keys are not listed in the new document unless they are also in `rootSigners`.
   */
  readonly previousRootSigners?: readonly Signer[];
}

/**
 * Builds and signs a trust root document (docs/trust-model.md): payload = canonical JSON of
 * `{ _type: 'koa.trust-root', specVersion: 1, version, env, expires, keys, roles }`; one JWS
 * signature per distinct signer (new root signers, then previous root signers), each with the
 * protected header `{ alg: 'EdDSA', kid, typ: 'koa-trust-root+json' }`.
 * Returns the canonical JSON text of `{ payload, signatures }`.
 * Throws CONFIG_INVALID for inconsistent inputs (private key material in `releaseKeys`, a kid that
 * is not its key's thumbprint, a threshold out of range, no root signers).
 */
export async function createTrustRoot(o: CreateTrustRootOptions): Promise<SignedTrustRootJson> {
  const config = (message: string): KoaRefusal => new KoaRefusal('CONFIG_INVALID', `createTrustRoot: ${message}`);
  if (!Env.safeParse(o.env).success) throw config(`env ${JSON.stringify(o.env)} is not an environment token`);
  if (!(o.expires instanceof Date) || Number.isNaN(o.expires.getTime())) throw config('expires must be a valid Date');
  if (o.rootSigners.length === 0) throw config('at least one root signer is required');
  const keys: TrustRootDocument['keys'] = {};
  const rootKids: string[] = [];
  for (const signer of o.rootSigners) {
    const jwk = PublicEd25519JwkSchema.parse(await signer.publicJwk());
    const kid = await thumbprintOf(jwk);
    if (kid !== signer.kid) throw config(`root signer kid ${signer.kid} is not its key's thumbprint ${kid}`);
    keys[kid] = { alg: 'EdDSA', jwk };
    rootKids.push(kid);
  }
  const releaseKids: string[] = [];
  for (const entry of o.releaseKeys) {
    if (entry.jwk !== null && typeof entry.jwk === 'object' && 'd' in entry.jwk) throw config(`release key ${entry.kid} includes private key material (d)`);
    const parsed = PublicEd25519JwkSchema.safeParse(entry.jwk);
    if (!parsed.success) throw config(`release key ${entry.kid} is not a public Ed25519 JWK {kty, crv, x}`);
    const kid = await thumbprintOf(parsed.data);
    if (kid !== entry.kid) throw config(`release key kid ${entry.kid} is not its key's thumbprint ${kid}`);
    keys[kid] = { alg: 'EdDSA', jwk: parsed.data };
    releaseKids.push(kid);
  }
  const rootThreshold = o.rootThreshold ?? rootKids.length;
  if (!Number.isInteger(rootThreshold) || rootThreshold < 1 || rootThreshold > rootKids.length) {
    throw config(`rootThreshold ${rootThreshold} must be between 1 and ${rootKids.length}`);
  }
  const document: TrustRootDocument = {
    _type: TRUST_ROOT_TYPE,
    specVersion: TRUST_ROOT_SPEC_VERSION,
    version: o.version,
    env: o.env,
    expires: o.expires.toISOString(),
    keys,
    roles: { root: { kids: rootKids, threshold: rootThreshold }, release: { kids: releaseKids, threshold: 1 } },
  };
  const payloadText = encodeTrustRootPayload(document);
  const payloadBytes = new TextEncoder().encode(payloadText);
  const payloadB64 = Buffer.from(payloadBytes).toString('base64url');

  const signers = new Map<string, Signer>();
  for (const s of [...o.rootSigners, ...(o.previousRootSigners ?? [])]) if (!signers.has(s.kid)) signers.set(s.kid, s);
  const signatures: SignedTrustRoot['signatures'] = [];
  for (const signer of signers.values()) {
    const compact = await signer.sign(payloadBytes, { alg: 'EdDSA', kid: signer.kid, typ: TRUST_ROOT_TYP });
    const [protectedHeader, payload, signature] = compact.split('.');
    if (payload !== payloadB64) throw config(`signer ${signer.kid} signed a different payload`);
    signatures.push({ protected: protectedHeader, signature });
  }
  return canonicalJson({ payload: payloadB64, signatures });
}
