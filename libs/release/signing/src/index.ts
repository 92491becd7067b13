/**
 * @koa/release/signing — the `Signer` port and its development implementations, release notice
 * signing and trust root issuance (docs/trust-model.md). Verification lives in
 * `@koa/release/verify`, which has no I/O.
 */
export type { Signer, PrivateEd25519Jwk } from './signer';
export { Ed25519KeySigner, generatePrivateJwk, thumbprintOf } from './signer';
export { LocalKeyFileSigner } from './key-file';
export { signReleaseNotice } from './notice';
export { createTrustRoot } from './trust-root';
export type { CreateTrustRootOptions, SignedTrustRootJson } from './trust-root';
export { DevKeyring } from './dev-keyring';
export type { DevKeyringOptions } from './dev-keyring';
