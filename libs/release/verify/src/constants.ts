/**
 * The JWS algorithms a kOA verifier accepts. Anything else (`none`, `HS256`, `RS256`, `ES256`,
 * the fully-specified `Ed25519`, ...) is refused before any key is looked up.
 */
export const ALLOWED_ALGS = ['EdDSA'] as const;
export type AllowedAlg = (typeof ALLOWED_ALGS)[number];

/** `_type` of a trust root document. */
export const TRUST_ROOT_TYPE = 'koa.trust-root';
/** `typ` protected header of each signature over a trust root. */
export const TRUST_ROOT_TYP = 'koa-trust-root+json';
/** The trust root document layout version this verifier understands. */
export const TRUST_ROOT_SPEC_VERSION = 1;

/** Upper bound of a compact release notice (the same bound the ReleaseActivated event applies). */
export const MAX_NOTICE_CHARS = 16_384;
/** Upper bound of a serialised, signed trust root. */
export const MAX_TRUST_ROOT_CHARS = 256 * 1024;
/** Upper bounds on key counts in a trust root (bounded work for a verifier). */
export const MAX_KEYS = 32;

/** A key id is the RFC 7638 SHA-256 JWK thumbprint of the public key: 43 base64url characters. */
export const KID_PATTERN = /^[A-Za-z0-9_-]{43}$/;
