import { DIGEST_PATTERN, KoaRefusal, sha256Digest } from '@koa/contracts';

/**
 * Checks downloaded pack bytes against the size and digest a verified notice names
 * (TUF 5.7.3: length, then hashes). Size first: it is cheap and catches truncation/oversize.
 * Throws RELEASE_PACK_SIZE_MISMATCH or RELEASE_PACK_DIGEST_MISMATCH (also for a malformed
 * expected digest — there is nothing to compare against).
 */
export function verifyPackBytes(bytes: Uint8Array, expected: { readonly digest: string; readonly size: number }): void {
  if (!(bytes instanceof Uint8Array)) throw new KoaRefusal('RELEASE_PACK_SIZE_MISMATCH', 'pack bytes are not a Uint8Array');
  if (!Number.isSafeInteger(expected?.size) || expected.size <= 0) {
    throw new KoaRefusal('RELEASE_PACK_SIZE_MISMATCH', `expected pack size ${String(expected?.size)} is not a positive integer`);
  }
  if (bytes.byteLength !== expected.size) {
    throw new KoaRefusal('RELEASE_PACK_SIZE_MISMATCH', `pack is ${bytes.byteLength} bytes, the release names ${expected.size}`, { actual: bytes.byteLength, expected: expected.size });
  }
  if (typeof expected.digest !== 'string' || !DIGEST_PATTERN.test(expected.digest)) {
    throw new KoaRefusal('RELEASE_PACK_DIGEST_MISMATCH', `expected pack digest ${JSON.stringify(String(expected.digest).slice(0, 80))} is not sha256:<hex>`);
  }
  const actual = sha256Digest(bytes);
  if (actual !== expected.digest) {
    throw new KoaRefusal('RELEASE_PACK_DIGEST_MISMATCH', `pack bytes hash to ${actual}, the release names ${expected.digest}`, { actual, expected: expected.digest });
  }
}
