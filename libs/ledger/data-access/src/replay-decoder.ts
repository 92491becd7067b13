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
  readonly text: string;
  readonly position: number;
  readonly eventDigest: string;
}

/**
 * For each message in order: `JSON.parse` once, check the digest against the entry
 * (LEDGER_CHAIN_BROKEN if it differs or is not JSON), `parseEvent` the parsed object, `evolveAll`.
 * Returns every upsert in order (the caller folds them).
 */
export function decodeEntries(items: readonly EntryMessage[]): RowUpsert[] {
  const out: RowUpsert[] = [];
  for (const m of items) {
    let stored: unknown;
    try {
      stored = JSON.parse(m.text);
    } catch {
      throw new KoaRefusal('LEDGER_CHAIN_BROKEN', `stream message seq ${m.seq} is not JSON but ledger entry ${m.position} records ${m.eventDigest}`, { seq: m.seq, index: m.position });
    }
    const digest = eventDigestOf(stored);
    if (digest !== m.eventDigest) {
      throw new KoaRefusal('LEDGER_CHAIN_BROKEN', `stream message seq ${m.seq} digests to ${digest} but ledger entry ${m.position} records ${m.eventDigest}`, { seq: m.seq, index: m.position });
    }
    for (const u of evolveAll(parseEvent(stored, m.subject), { seq: m.seq })) out.push(u);
  }
  return out;
}
