import { digestHex, sha256Digest } from '@koa/contracts';

/**
 * The build id of a build task: `b-<taskId>` when that fits the 64-character token limit, else
 * `b-` + the first 62 hex digits of sha256(taskId). Deterministic, so a redelivered task lands on
 * the same build aggregate and is idempotent.
 */
export function buildIdFor(taskId: string): string {
  const plain = `b-${taskId}`;
  return plain.length <= 64 ? plain : `b-${digestHex(sha256Digest(taskId)).slice(0, 62)}`;
}

/**
 * Deterministic event ids for the events of one build (`<tenant>:<buildId>:<step>`, or a hash
 * form beyond 128 characters). The tenant is part of the id because `Nats-Msg-Id` de-duplication
 * is per stream, across tenants: the same task id in two tenants must not collide.
 */
export function buildEventId(tenant: string, buildId: string, step: string): string {
  const plain = `${tenant}:${buildId}:${step}`;
  return plain.length <= 128 ? plain : `pw:${digestHex(sha256Digest(`${tenant}:${buildId}`)).slice(0, 48)}:${step}`;
}
