import { createHash } from 'node:crypto';

/** Content digests everywhere are `sha256:<64 lower-case hex>`. */
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
export type Digest = `sha256:${string}`;

export function sha256Digest(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The hex part of a digest: used as object names and aggregate ids (subject-token safe). */
export const digestHex = (digest: string): string => digest.slice('sha256:'.length);

/**
 * RFC 8785 (JCS) canonical JSON for the plain data this system signs and hashes: object keys
 * sorted by UTF-16 code units, no whitespace, ECMAScript number and string serialisation.
 * Non-finite numbers, `undefined` values in arrays and non-plain objects are refused.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map((v) => {
      if (v === undefined) throw new TypeError('canonicalJson: undefined in array');
      return canonicalJson(v);
    }).join(',')}]`;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new TypeError('canonicalJson: not a plain object');
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: unsupported type ${typeof value}`);
}

export const canonicalDigest = (value: unknown): Digest => sha256Digest(canonicalJson(value));

/**
 * The root digest of a snapshot set: `canonicalDigest({ digests })` over the sorted, unique
 * digests. ingest-gateway seals sets with it; pipeline-worker re-derives it from a build task's
 * digests and refuses a task whose digests do not hash to its pinned root (SNAPSHOT_SET_MISMATCH).
 */
export function snapshotSetRootOf(digests: readonly string[]): Digest {
  const unique = [...new Set(digests)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return canonicalDigest({ digests: unique });
}
