import { KoaRefusal, parseEvent } from '@koa/contracts';
import { eventDigestOf, evolveAll, type RowUpsert } from '@koa/ledger/domain';

/**
 * The CPU half of a rebuild page — decode, digest check, validate, evolve — as a pure function
 * of the page's entry messages. (Running it on worker threads was measured twice: on the 2 shared
 * cores of the bench it did not beat the main thread; see docs/audit-ledger.md §5.)
 */

/** One replayed message that IS a ledger entry, with what the entry records. */
export interface EntryMessage {
  readonly seq: number;
  readonly subject: string;
  /** the stored message bytes, as delivered (decoded to text only here, so the text dies young) */
  readonly data: Uint8Array;
  readonly position: number;
  readonly eventDigest: string;
}

/**
 * For each message in order: UTF-8 decode and `JSON.parse` once, check the digest against the
 * entry (LEDGER_CHAIN_BROKEN if it differs or is not JSON), `parseEvent` the parsed object,
 * `evolveAll`, and hand its upserts to `add` (the caller folds them) before the next message.
 */
export function decodeEntries(items: readonly EntryMessage[], add: (upserts: readonly RowUpsert[]) => void): void {
  for (const m of items) {
    let stored: unknown;
    try {
      stored = JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8'));
    } catch {
      throw new KoaRefusal('LEDGER_CHAIN_BROKEN', `stream message seq ${m.seq} is not JSON but ledger entry ${m.position} records ${m.eventDigest}`, { seq: m.seq, index: m.position });
    }
    const digest = eventDigestOf(stored);
    if (digest !== m.eventDigest) {
      throw new KoaRefusal('LEDGER_CHAIN_BROKEN', `stream message seq ${m.seq} digests to ${digest} but ledger entry ${m.position} records ${m.eventDigest}`, { seq: m.seq, index: m.position });
    }
    add(evolveAll(parseEvent(stored, m.subject), { seq: m.seq }));
  }
}
