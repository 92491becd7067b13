import { assertToken, digestHex, sha256Digest } from '@koa/contracts';

/**
 * The release id for a release task, deterministic so that a redelivered task lands on the same
 * release aggregate and is recognised as already handled:
 *
 * - `r-<taskId>` when that fits a 64-character subject token (task ids up to 62 characters);
 * - otherwise `rh-<first 61 hex of sha256(taskId)>` (task ids of 63–64 characters). The forms
 *   cannot collide: the second character is `-` in the first and `h` in the second.
 *
 * Refuses an invalid task id with SUBJECT_TOKEN_INVALID.
 */
export function releaseIdFor(taskId: string): string {
  assertToken('id', taskId);
  const plain = `r-${taskId}`;
  return plain.length <= 64 ? plain : `rh-${digestHex(sha256Digest(taskId)).slice(0, 61)}`;
}
