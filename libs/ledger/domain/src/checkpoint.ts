import { createHash } from 'node:crypto';
import type { Digest } from '@koa/contracts';
import type { LedgerEntry } from './chain';

/**
 * A checkpoint commits to the first `size` entries of the ledger with one hash, so that a
 * signed checkpoint (signing comes later: this is the seam) lets anyone check that a later
 * ledger still extends the one they saw.
 *
 * `root` is the RFC 6962 (Certificate Transparency) Merkle Tree Hash over the entries' hashes:
 * leaf = SHA-256(0x00 ‖ 32 bytes of entryHash), node = SHA-256(0x01 ‖ left ‖ right), the tree
 * split at the largest power of two below n, and the empty tree = SHA-256(""). A Merkle root
 * (rather than just the head hash) leaves room for inclusion and consistency proofs.
 */
export interface Checkpoint {
  readonly size: number;
  readonly root: Digest;
  /** entryHash of the last entry covered (GENESIS for an empty ledger is not used: undefined) */
  readonly headHash?: Digest;
}

const sha = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);

function mth(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return sha(LEAF, leaves[0]);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha(NODE, mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** Computes the checkpoint over the given entries (in chain order). Pure. */
export function checkpoint(entries: readonly Pick<LedgerEntry, 'entryHash'>[]): Checkpoint {
  const leaves = entries.map((e) => Buffer.from(e.entryHash.slice('sha256:'.length), 'hex'));
  const root = `sha256:${mth(leaves).toString('hex')}` as Digest;
  return entries.length ? { size: entries.length, root, headHash: entries[entries.length - 1].entryHash } : { size: 0, root };
}
