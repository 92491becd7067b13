import { KoaRefusal, assertToken, dedupKey, digestHex, isToken, sha256Digest, type Envelope } from '@koa/contracts';

/** Idempotency keys: 1..128 printable ASCII characters (RFC draft "Idempotency-Key" is opaque). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;

/**
 * The Case id for a trigger: `c-` + the first 40 hex digits of sha256(tenant + "\n" + key).
 * Deterministic, so a retried trigger with the same Idempotency-Key lands on the same Case, and
 * scoped by tenant, so two tenants using the same key never collide.
 * Refuses an invalid tenant (SUBJECT_TOKEN_INVALID) or key (TRIGGER_INVALID).
 */
export function caseIdFor(tenant: string, idempotencyKey: string): string {
  assertToken('tenant', tenant);
  if (!IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
    throw new KoaRefusal('TRIGGER_INVALID', 'Idempotency-Key must be 1..128 printable ASCII characters without spaces', { field: 'Idempotency-Key' });
  }
  return `c-${digestHex(sha256Digest(`${tenant}\n${idempotencyKey}`)).slice(0, 40)}`;
}

/** The id of a Case's build task: `<caseId>-build` (one build per Case in issue 3). */
export const buildTaskIdFor = (caseId: string): string => assertToken('id', `${caseId}-build`);

/** The id of a Case's release task: `<caseId>-release` (one release per Case in issue 3). */
export const releaseTaskIdFor = (caseId: string): string => assertToken('id', `${caseId}-release`);

/** Envelope id base of the events opening a Case: `<caseId>.open` (so a retried append de-duplicates). */
export const openEventIdBase = (caseId: string): string => `${caseId}.open`;

/**
 * Envelope id base of the events a Case appends in reaction to another event: `<caseId>.o-<32 hex>`
 * from the CloudEvents dedup key (source#id) of that event: a redelivery yields the same ids.
 */
export function reactionEventIdBase(caseId: string, cause: Pick<Envelope, 'source' | 'id'>): string {
  if (!isToken('id', caseId)) throw new KoaRefusal('SUBJECT_TOKEN_INVALID', `case id ${JSON.stringify(caseId)} is not a valid id token`, { field: 'caseId' });
  return `${caseId}.o-${digestHex(sha256Digest(dedupKey(cause))).slice(0, 32)}`;
}
