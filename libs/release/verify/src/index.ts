/**
 * @koa/release/verify — pure, network-free verification of kOA trust roots, release notices and
 * pack bytes (docs/trust-model.md, docs/release-notice.md). The same code runs in
 * konnaxion-release and in every runtime consumer.
 */
export { ALLOWED_ALGS, TRUST_ROOT_TYPE, TRUST_ROOT_TYP, TRUST_ROOT_SPEC_VERSION, MAX_NOTICE_CHARS, MAX_TRUST_ROOT_CHARS, KID_PATTERN } from './constants';
export type { AllowedAlg } from './constants';
export {
  loadTrustRoot,
  isLoadedTrustRoot,
  encodeTrustRootPayload,
  TrustRootDocumentSchema,
  SignedTrustRootSchema,
  PublicEd25519JwkSchema,
} from './trust-root';
export type { TrustRoot, TrustRootDocument, SignedTrustRoot, PublicEd25519Jwk, LoadTrustRootOptions, VerificationKey } from './trust-root';
export { verifyReleaseNotice, peekNoticeClaims } from './notice';
export type { VerifyNoticeOptions, VerifiedNotice, NoticeScope, NoticeHeader } from './notice';
export { verifyPackBytes } from './pack';
