import { createPrivateKey, createPublicKey } from 'node:crypto';
import { inspect } from 'node:util';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey } from 'jose';
import { KoaRefusal } from '@koa/contracts';
import { PublicEd25519JwkSchema, type PublicEd25519Jwk } from '@koa/release/verify';

/**
 * The signing port. Everything that signs in kOA (release notices, trust roots) goes through it,
 * so the key can live in a file (development), or in an HSM (production: a PKCS#11 signer —
 * roadmap, not built yet; see docs/trust-model.md) without changing callers.
 *
 * Implementations never expose private key material: not as a property, not in `toJSON`, not
 * in `util.inspect`, not in error messages.
 */
export interface Signer {
  /** RFC 7638 SHA-256 thumbprint of the public key */
  readonly kid: string;
  readonly alg: 'EdDSA';
  /**
   * Signs `payload` as a compact JWS. `alg` and `kid` are set by the signer (a header that names
   * a different alg or kid is refused); other protected parameters (e.g. `typ`) are kept.
   */
  sign(payload: Uint8Array, protectedHeader: Record<string, unknown>): Promise<string>;
  /** the public key as a JWK `{ kty: 'OKP', crv: 'Ed25519', x }` */
  publicJwk(): Promise<PublicEd25519Jwk>;
}

/** A private Ed25519 JWK as stored in a key file. */
export interface PrivateEd25519Jwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  d: string;
  kid?: string;
  alg?: 'EdDSA';
  use?: 'sig';
}

const B64_32 = /^[A-Za-z0-9_-]{43}$/;

/**
 * An Ed25519 signer over a non-extractable in-memory key. The base of `LocalKeyFileSigner`;
 * also handy in tests (`Ed25519KeySigner.generate()`).
 */
export class Ed25519KeySigner implements Signer {
  readonly alg = 'EdDSA' as const;
  readonly #key: CryptoKey;
  readonly #publicJwk: PublicEd25519Jwk;

  protected constructor(
    readonly kid: string,
    key: CryptoKey,
    publicJwk: PublicEd25519Jwk,
  ) {
    this.#key = key;
    this.#publicJwk = Object.freeze({ ...publicJwk });
  }

  /** A fresh random key (never persisted). */
  static async generate(): Promise<Ed25519KeySigner> {
    return Ed25519KeySigner.fromPrivateJwk(await generatePrivateJwk());
  }

  /**
   * Imports a private Ed25519 JWK; checks that `x` is the public half of `d` and, when the JWK
   * carries a `kid`, that it is the thumbprint. Throws CONFIG_INVALID (never echoing `d`).
   */
  static async fromPrivateJwk(jwk: unknown, o: { kid?: string; what?: string } = {}): Promise<Ed25519KeySigner> {
    const { kid, key, publicJwk } = await importPrivate(jwk, o);
    return new Ed25519KeySigner(kid, key, publicJwk);
  }

  async sign(payload: Uint8Array, protectedHeader: Record<string, unknown>): Promise<string> {
    if (!(payload instanceof Uint8Array)) throw new TypeError('Signer.sign: payload must be a Uint8Array');
    const header = { ...protectedHeader };
    if (header['alg'] !== undefined && header['alg'] !== this.alg) throw new TypeError(`Signer.sign: this signer only signs with ${this.alg}, not ${String(header['alg'])}`);
    if (header['kid'] !== undefined && header['kid'] !== this.kid) throw new TypeError(`Signer.sign: header kid ${String(header['kid'])} is not this signer's kid ${this.kid}`);
    return new CompactSign(payload).setProtectedHeader({ ...header, alg: this.alg, kid: this.kid }).sign(this.#key);
  }

  async publicJwk(): Promise<PublicEd25519Jwk> {
    return { ...this.#publicJwk };
  }

  toJSON(): { kid: string; alg: 'EdDSA' } {
    return { kid: this.kid, alg: this.alg };
  }

  [inspect.custom](): string {
    return `${this.constructor.name} { kid: '${this.kid}', alg: 'EdDSA' }`;
  }
}

/** Generates a private Ed25519 JWK (with `kid` = thumbprint, `alg`, `use`). */
export async function generatePrivateJwk(): Promise<PrivateEd25519Jwk> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  const pub = { kty: 'OKP', crv: 'Ed25519', x: jwk.x as string } as const;
  return { ...pub, d: jwk.d as string, kid: await calculateJwkThumbprint(pub, 'sha256'), alg: 'EdDSA', use: 'sig' };
}

/** RFC 7638 SHA-256 thumbprint of a public Ed25519 JWK (the kOA `kid`). */
export const thumbprintOf = (jwk: PublicEd25519Jwk): Promise<string> =>
  calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'sha256');

/** @internal imports a private JWK for a signer subclass (never exported from the lib index) */
export async function importPrivate(jwk: unknown, o: { kid?: string; what?: string }): Promise<{ kid: string; key: CryptoKey; publicJwk: PublicEd25519Jwk }> {
  const what = o.what ?? 'private key';
  const bad = (why: string, cause?: unknown): KoaRefusal =>
    new KoaRefusal('CONFIG_INVALID', `${what} is not a usable Ed25519 private JWK: ${why}`, {}, cause === undefined ? undefined : { cause });
  if (jwk === null || typeof jwk !== 'object') throw bad('not an object');
  const j = jwk as Record<string, unknown>;
  if (j['kty'] !== 'OKP' || j['crv'] !== 'Ed25519') throw bad('kty must be OKP and crv Ed25519');
  if (typeof j['x'] !== 'string' || !B64_32.test(j['x'])) throw bad('x must be 32 bytes base64url');
  if (typeof j['d'] !== 'string' || !B64_32.test(j['d'])) throw bad('d must be 32 bytes base64url');
  if (j['alg'] !== undefined && j['alg'] !== 'EdDSA') throw bad('alg must be EdDSA');
  let derivedX: string;
  try {
    const priv = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: j['x'], d: j['d'] }, format: 'jwk' });
    derivedX = createPublicKey(priv).export({ format: 'jwk' }).x as string;
  } catch (cause) {
    throw bad('the key cannot be parsed', cause);
  }
  if (derivedX !== j['x']) throw bad('x is not the public half of d');
  const publicJwk = PublicEd25519JwkSchema.parse({ kty: 'OKP', crv: 'Ed25519', x: derivedX });
  const kid = await thumbprintOf(publicJwk);
  if (j['kid'] !== undefined && j['kid'] !== kid) throw bad(`kid ${String(j['kid'])} is not the key's thumbprint ${kid}`);
  if (o.kid !== undefined && o.kid !== kid) {
    throw new KoaRefusal('CONFIG_INVALID', `${what} has kid ${kid}, expected ${o.kid}`, { kid, expected: o.kid });
  }
  const key = (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: derivedX, d: j['d'] }, 'EdDSA', { extractable: false })) as CryptoKey;
  return { kid, key, publicJwk };
}
