import { flattenedVerify, importJWK, calculateJwkThumbprint, type CryptoKey } from 'jose';
import { z } from 'zod';
import { canonicalJson, sha256Digest, Env, IsoTime, KoaRefusal, type Digest } from '@koa/contracts';
import { decodeBase64url, decodeJsonObject } from './base64url';
import {
  ALLOWED_ALGS,
  KID_PATTERN,
  MAX_KEYS,
  MAX_TRUST_ROOT_CHARS,
  TRUST_ROOT_SPEC_VERSION,
  TRUST_ROOT_TYP,
  TRUST_ROOT_TYPE,
} from './constants';

/** A public Ed25519 JWK, exactly the RFC 8037 members (no `d`, no `kid`, nothing else). */
export const PublicEd25519JwkSchema = z
  .object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes base64url') })
  .strict();
export type PublicEd25519Jwk = z.output<typeof PublicEd25519JwkSchema>;

const Kid = z.string().regex(KID_PATTERN, 'must be an RFC 7638 SHA-256 thumbprint (43 base64url chars)');
const RoleSchema = z.object({ kids: z.array(Kid).min(1).max(MAX_KEYS), threshold: z.number().int().min(1) }).strict();

/**
 * The signed content of a trust root (docs/trust-model.md). Serialised as RFC 8785 canonical
 * JSON; that exact byte string is the JWS payload that the root keys sign.
 *
 * ```json
 * { "_type": "koa.trust-root", "specVersion": 1, "version": 1, "env": "dev",
 *   "expires": "2027-11-26T00:00:00.000Z",
 *   "keys": { "<kid>": { "alg": "EdDSA", "jwk": { "kty": "OKP", "crv": "Ed25519", "x": "..." } } },
 *   "roles": { "root": { "kids": ["<kid>"], "threshold": 1 }, "release": { "kids": ["<kid>"], "threshold": 1 } } }
 * ```
 */
export const TrustRootDocumentSchema = z
  .object({
    _type: z.literal(TRUST_ROOT_TYPE),
    specVersion: z.literal(TRUST_ROOT_SPEC_VERSION),
    version: z.number().int().positive(),
    env: Env,
    expires: IsoTime,
    keys: z.record(Kid, z.object({ alg: z.enum(ALLOWED_ALGS), jwk: PublicEd25519JwkSchema }).strict()),
    roles: z.object({ root: RoleSchema, release: RoleSchema }).strict(),
  })
  .strict();
export type TrustRootDocument = z.output<typeof TrustRootDocumentSchema>;

/**
 * The serialised, signed trust root: a JWS in General JSON Serialization (RFC 7515 §7.2.1)
 * with one signature per root key and no unprotected headers. Each protected header is
 * `{ alg: 'EdDSA', kid, typ: 'koa-trust-root+json' }`.
 */
export const SignedTrustRootSchema = z
  .object({
    payload: z.string().min(1),
    signatures: z
      .array(z.object({ protected: z.string().min(1).max(1024), signature: z.string().min(1).max(512) }).strict())
      .min(1)
      .max(MAX_KEYS),
  })
  .strict();
export type SignedTrustRoot = z.output<typeof SignedTrustRootSchema>;

/** A key usable for verification (a WebCrypto public key, imported once when the root is loaded). */
export type VerificationKey = CryptoKey;

/**
 * A trust root that passed `loadTrustRoot`: immutable, keys already imported.
 * Only objects returned by `loadTrustRoot` are accepted by `verifyReleaseNotice` (a hand-built
 * object literal with the same shape is refused with TRUST_ROOT_INVALID).
 */
export interface TrustRoot {
  readonly env: string;
  readonly version: number;
  readonly expires: Date;
  /** `sha256:` of the canonical payload bytes: the identity of this root version */
  readonly digest: Digest;
  /** the release role: the only keys that may sign release notices for `env` */
  readonly releaseKeys: ReadonlyMap<string, VerificationKey>;
  /** the root role: the keys that sign this document and its successor */
  readonly rootKeys: ReadonlyMap<string, VerificationKey>;
  readonly rootThreshold: number;
  /** the verified document */
  readonly document: TrustRootDocument;
  /** the signed serialisation as given (string input) or its canonical JSON (object input) */
  readonly raw: string;
}

export interface LoadTrustRootOptions {
  /** the environment the caller is configured for; the document's `env` must equal it */
  readonly env: string;
  /** the verifier clock (injected; never read inside) */
  readonly now: Date;
  /**
   * The currently trusted root of the same environment when `signed` is its successor: the new
   * version must be exactly `previous.version + 1` and be signed by a threshold of the previous
   * root keys as well as its own (TUF 5.3.4, 5.3.5).
   */
  readonly previous?: TrustRoot;
}

const LOADED = new WeakSet<object>();

/** True for trust roots produced by `loadTrustRoot` in this process. */
export const isLoadedTrustRoot = (value: unknown): value is TrustRoot =>
  typeof value === 'object' && value !== null && LOADED.has(value);

const invalid = (message: string, reason: string, cause?: unknown): KoaRefusal =>
  new KoaRefusal('TRUST_ROOT_INVALID', message, { reason }, cause === undefined ? undefined : { cause });

/** The exact payload string signed for a document (RFC 8785 canonical JSON of the validated document). */
export function encodeTrustRootPayload(document: TrustRootDocument): string {
  const parsed = TrustRootDocumentSchema.safeParse(document);
  if (!parsed.success) throw invalid(`trust root document invalid: ${issues(parsed.error)}`, 'schema');
  return canonicalJson(parsed.data);
}

/**
 * Loads and verifies a signed trust root (TUF client workflow 5.2 / 5.3, adapted).
 * Throws KoaRefusal TRUST_ROOT_INVALID (details.reason names the failed check) when:
 * the serialisation or document is malformed, the payload is not canonical JSON, `env` differs,
 * a `kid` is not the thumbprint of its key, roles are inconsistent (unknown kid, threshold larger
 * than the role, a release threshold other than 1, a key in both roles, a key in no role), fewer
 * than `roles.root.threshold` distinct root keys signed it, a rotation is not exactly N+1 or not
 * signed by a threshold of the previous root keys, or the document has expired at `now`.
 * Invalid options (bad env token, invalid Date) throw CONFIG_INVALID.
 *
 * @example
 * const root = await loadTrustRoot(readFileSync('trust-root.dev.json', 'utf8'), { env: 'dev', now: new Date() });
 */
export async function loadTrustRoot(signed: string | object, o: LoadTrustRootOptions): Promise<TrustRoot> {
  if (!Env.safeParse(o?.env).success) throw new KoaRefusal('CONFIG_INVALID', `loadTrustRoot: env ${JSON.stringify(o?.env)} is not an environment token`);
  if (!(o.now instanceof Date) || Number.isNaN(o.now.getTime())) throw new KoaRefusal('CONFIG_INVALID', 'loadTrustRoot: now must be a valid Date');

  // 1. Parse the serialisation (a JWS General JSON object), bounded.
  let envelopeInput: unknown = signed;
  let raw: string;
  if (typeof signed === 'string') {
    if (signed.length > MAX_TRUST_ROOT_CHARS) throw invalid(`trust root is larger than ${MAX_TRUST_ROOT_CHARS} characters`, 'size');
    try {
      envelopeInput = JSON.parse(signed);
    } catch (cause) {
      throw invalid('trust root is not JSON', 'json', cause);
    }
    raw = signed;
  } else {
    raw = '';
  }
  const envelope = SignedTrustRootSchema.safeParse(envelopeInput);
  if (!envelope.success) throw invalid(`trust root serialisation invalid: ${issues(envelope.error)}`, 'serialisation');
  if (typeof signed !== 'string') {
    raw = canonicalJson(envelope.data);
    if (raw.length > MAX_TRUST_ROOT_CHARS) throw invalid(`trust root is larger than ${MAX_TRUST_ROOT_CHARS} characters`, 'size');
  }

  // 2. The payload is canonical JSON of a valid document (one byte string per document version).
  const { text, json } = decodeJsonObject(envelope.data.payload, 'trust root payload', 'TRUST_ROOT_INVALID', { reason: 'serialisation' });
  const parsed = TrustRootDocumentSchema.safeParse(json);
  if (!parsed.success) throw invalid(`trust root document invalid: ${issues(parsed.error)}`, 'schema');
  const document = parsed.data;
  if (canonicalJson(document) !== text) throw invalid('trust root payload is not RFC 8785 canonical JSON', 'canonical');

  // 3. Scope: a root pins exactly one environment (mix-and-match across environments is refused).
  if (document.env !== o.env) throw invalid(`trust root is for env ${JSON.stringify(document.env)}, expected ${JSON.stringify(o.env)}`, 'env');

  // 4. Keys and roles are consistent; each kid is the RFC 7638 thumbprint of its key.
  const kids = Object.keys(document.keys);
  if (kids.length > MAX_KEYS) throw invalid(`trust root lists ${kids.length} keys (max ${MAX_KEYS})`, 'keys');
  const imported = new Map<string, VerificationKey>();
  for (const kid of kids) {
    const { jwk } = document.keys[kid];
    const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
    if (thumbprint !== kid) throw invalid(`key ${kid} is not the RFC 7638 thumbprint of its JWK (${thumbprint})`, 'kid');
    try {
      imported.set(kid, (await importJWK({ ...jwk }, 'EdDSA')) as VerificationKey);
    } catch (cause) {
      throw invalid(`key ${kid} cannot be imported as an Ed25519 public key`, 'key', cause);
    }
  }
  const { root, release } = document.roles;
  for (const [name, role] of [['root', root], ['release', release]] as const) {
    if (new Set(role.kids).size !== role.kids.length) throw invalid(`role ${name} lists a kid twice`, 'roles');
    for (const kid of role.kids) if (!imported.has(kid)) throw invalid(`role ${name} names kid ${kid}, which is not in keys`, 'roles');
    if (role.threshold > role.kids.length) throw invalid(`role ${name} threshold ${role.threshold} exceeds its ${role.kids.length} keys`, 'roles');
  }
  if (release.threshold !== 1) throw invalid('role release threshold must be 1 (a notice carries one signature)', 'roles');
  const rootSet = new Set(root.kids);
  for (const kid of release.kids) if (rootSet.has(kid)) throw invalid(`kid ${kid} is in both the root and the release role`, 'roles');
  for (const kid of kids) if (!rootSet.has(kid) && !release.kids.includes(kid)) throw invalid(`key ${kid} belongs to no role`, 'roles');
  const rootKeys = new Map(root.kids.map((kid) => [kid, imported.get(kid) as VerificationKey]));
  const releaseKeys = new Map(release.kids.map((kid) => [kid, imported.get(kid) as VerificationKey]));

  // 5. Signed by a threshold of its own root keys (TUF 5.2 self-signature, 5.3.4 second half).
  const own = await countRootSignatures(envelope.data, rootKeys);
  if (own.size < root.threshold) {
    throw invalid(`trust root v${document.version} is signed by ${own.size} of its root keys, threshold ${root.threshold}`, 'signature');
  }

  // 6. Rotation: exactly N+1 (TUF 5.3.5, rollback) and signed by a threshold of N's root keys (TUF 5.3.4).
  if (o.previous !== undefined) {
    const previous = o.previous;
    if (!isLoadedTrustRoot(previous)) throw invalid('previous trust root was not produced by loadTrustRoot', 'previous');
    if (previous.env !== document.env) throw invalid(`previous trust root is for env ${previous.env}, not ${document.env}`, 'env');
    if (document.version !== previous.version + 1) {
      throw invalid(`trust root version ${document.version} does not follow trusted version ${previous.version} (expected ${previous.version + 1})`, 'version');
    }
    const byPrevious = await countRootSignatures(envelope.data, previous.rootKeys);
    if (byPrevious.size < previous.rootThreshold) {
      throw invalid(`trust root v${document.version} is signed by ${byPrevious.size} root keys of v${previous.version}, threshold ${previous.rootThreshold}`, 'rotation-signature');
    }
  }

  // 7. Freeze protection: the root has not expired at the injected clock (TUF 5.3.10).
  const expires = new Date(document.expires);
  if (!(expires.getTime() > o.now.getTime())) throw invalid(`trust root v${document.version} for ${document.env} expired at ${document.expires}`, 'expired');

  const trustRoot: TrustRoot = Object.freeze({
    env: document.env,
    version: document.version,
    expires,
    digest: sha256Digest(text),
    releaseKeys: new ReadonlyKeyMap(releaseKeys),
    rootKeys: new ReadonlyKeyMap(rootKeys),
    rootThreshold: root.threshold,
    document: deepFreeze(document),
    raw,
  });
  LOADED.add(trustRoot);
  return trustRoot;
}

/** Distinct kids of `keys` with a valid signature over the payload; other signatures are ignored (TUF). */
async function countRootSignatures(envelope: SignedTrustRoot, keys: ReadonlyMap<string, VerificationKey>): Promise<Set<string>> {
  const valid = new Set<string>();
  for (const sig of envelope.signatures) {
    const { json: header } = decodeJsonObject(sig.protected, 'trust root signature header', 'TRUST_ROOT_INVALID', { reason: 'signature-header' });
    const unexpected = Object.keys(header).filter((k) => k !== 'alg' && k !== 'kid' && k !== 'typ');
    if (unexpected.length > 0) throw invalid(`trust root signature header has unexpected parameters: ${unexpected.join(', ')}`, 'signature-header');
    if (header['typ'] !== TRUST_ROOT_TYP) throw invalid(`trust root signature typ must be ${TRUST_ROOT_TYP}`, 'signature-header');
    if (!(ALLOWED_ALGS as readonly unknown[]).includes(header['alg'])) continue;
    const kid = header['kid'];
    if (typeof kid !== 'string') throw invalid('trust root signature header has no kid', 'signature-header');
    const key = keys.get(kid);
    if (key === undefined || valid.has(kid)) continue;
    decodeBase64url(sig.signature, 'trust root signature', 'TRUST_ROOT_INVALID', { reason: 'signature-header' });
    try {
      await flattenedVerify({ payload: envelope.payload, protected: sig.protected, signature: sig.signature }, key, { algorithms: [...ALLOWED_ALGS] });
      valid.add(kid);
    } catch {
      // an invalid signature simply does not count toward the threshold
    }
  }
  return valid;
}

class ReadonlyKeyMap<K, V> extends Map<K, V> {
  private sealed = false;
  constructor(entries: Map<K, V>) {
    super(entries);
    this.sealed = true;
  }
  override set(key: K, value: V): this {
    if (this.sealed) throw new TypeError('trust root keys are read-only');
    return super.set(key, value);
  }
  override delete(): boolean {
    throw new TypeError('trust root keys are read-only');
  }
  override clear(): void {
    throw new TypeError('trust root keys are read-only');
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
