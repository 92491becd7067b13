import { hash } from 'node:crypto';
import { canonicalJson, KoaRefusal, sha256Digest, type Digest } from '@koa/contracts';

/**
 * The hash chain: the ledger proper (docs/audit-ledger.md §2).
 *
 * Entry n commits to entry n-1 through `prevHash`, and to the event it records through
 * `eventDigest`. Byte-precisely:
 *
 * ```text
 * body       = { seq, eventId, source, type, tenant, subject, time, eventDigest, prevHash }
 * entryHash  = "sha256:" + hex( SHA-256( UTF8(prevHash) ‖ UTF8(canonicalJson(body)) ) )
 * prevHash₀  = "sha256:" + "0" × 64                      (genesis)
 * eventDigest= "sha256:" + hex( SHA-256( UTF8(canonicalJson(JSON.parse(stored message bytes)))))
 * ```
 *
 * `canonicalJson` is RFC 8785 (JCS). Anyone holding the entries (and, to check `eventDigest`, the
 * KOA_EVENTS stream) can verify the chain with a SHA-256 and a JCS implementation.
 */
export const GENESIS_HASH: Digest = `sha256:${'0'.repeat(64)}`;

/** What an entry records about one event (everything but its own hash). */
export interface LedgerEntryBody {
  /** the KOA_EVENTS stream sequence of the message */
  readonly seq: number;
  /** CloudEvents `id` */
  readonly eventId: string;
  /** CloudEvents `source`, e.g. `/koa/orgo-control` */
  readonly source: string;
  /** CloudEvents `type` */
  readonly type: string;
  /** `tenantid` */
  readonly tenant: string;
  /** the NATS subject the event was stored on: `koa.evt.<tenant>.<aggregate>.<id>` */
  readonly subject: string;
  /** CloudEvents `time` (as the producer wrote it) */
  readonly time: string;
  /** canonical digest of the stored envelope */
  readonly eventDigest: Digest;
  /** `entryHash` of the previous entry, or GENESIS_HASH for the first */
  readonly prevHash: Digest;
}

export interface LedgerEntry extends LedgerEntryBody {
  readonly entryHash: Digest;
}

/** The hash of an entry body: SHA-256 over `prevHash` followed by the body's canonical JSON. */
export function entryHashOf(body: LedgerEntryBody): Digest {
  const { seq, eventId, source, type, tenant, subject, time, eventDigest, prevHash } = body;
  return sha256Digest(prevHash + canonicalJson({ seq, eventId, source, type, tenant, subject, time, eventDigest, prevHash }));
}

/** The digest of an envelope as stored: canonical JSON of the parsed message bytes. */
export function eventDigestOf(storedEnvelope: unknown): Digest {
  return `sha256:${hash('sha256', fastCanonicalJson(storedEnvelope), 'hex')}`;
}

/** Thrown inside `jcs` when a value needs the reference serializer. */
const NOT_PLAIN = Symbol('not-plain-json');
/** Strings JSON.stringify would write as `"<s>"` unchanged: printable ASCII without `"` and `\`. */
const VERBATIM = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * Exactly `canonicalJson(value)` (RFC 8785), faster on parsed JSON: one pass appending to a
 * string, keys sorted by UTF-16 code units, numbers and non-trivial strings through the native
 * `JSON.stringify` (ECMAScript serialization, as JCS requires). Anything the reference refuses
 * or treats specially (non-finite numbers, `undefined` in arrays, non-plain objects, functions,
 * symbols, bigints) goes to `canonicalJson` itself, so the result (or the TypeError) is always
 * the reference's. Property-tested against it.
 */
export function fastCanonicalJson(value: unknown): string {
  try {
    return jcs(value);
  } catch (e) {
    if (e === NOT_PLAIN) return canonicalJson(value);
    throw e;
  }
}

const quote = (s: string): string => (VERBATIM.test(s) ? `"${s}"` : JSON.stringify(s));

function jcs(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return quote(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw NOT_PLAIN;
      return JSON.stringify(v);
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) {
          if (v[i] === undefined) throw NOT_PLAIN;
          out += i === 0 ? jcs(v[i]) : `,${jcs(v[i])}`;
        }
        return `${out}]`;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw NOT_PLAIN;
      const keys = Object.keys(v).sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) continue;
        out += `${first ? '' : ','}${quote(k)}:${jcs(x)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw NOT_PLAIN;
  }
}

/** The envelope fields an entry copies (a validated CloudEvents envelope has them all). */
export interface RecordableEnvelope {
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly tenantid: string;
  readonly time: string;
}

/**
 * Builds the next entry of the chain for one stored event.
 *
 * @param prevHash       `entryHash` of the current head, or GENESIS_HASH for an empty ledger
 * @param seq            the stream sequence of the message
 * @param subject        the NATS subject of the message
 * @param storedEnvelope the message bytes parsed as JSON (NOT the schema-parsed event: the digest
 *                       must be reproducible from the stream alone)
 */
export function nextEntry(prevHash: Digest, seq: number, subject: string, storedEnvelope: RecordableEnvelope): LedgerEntry {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new TypeError(`nextEntry: seq must be a positive integer, got ${seq}`);
  const body: LedgerEntryBody = {
    seq,
    eventId: storedEnvelope.id,
    source: storedEnvelope.source,
    type: storedEnvelope.type,
    tenant: storedEnvelope.tenantid,
    subject,
    time: storedEnvelope.time,
    eventDigest: eventDigestOf(storedEnvelope),
    prevHash,
  };
  return Object.freeze({ ...body, entryHash: entryHashOf(body) });
}

/** Why an entry breaks the chain. */
export type ChainBreak = 'prev-hash-mismatch' | 'entry-hash-mismatch' | 'seq-not-increasing';

export type ChainVerification =
  | { readonly ok: true; readonly size: number; readonly headHash: Digest; readonly headSeq: number }
  | {
      readonly ok: false;
      readonly code: 'LEDGER_CHAIN_BROKEN';
      /** 0-based position of the first entry that does not hash to the chain */
      readonly index: number;
      readonly seq: number;
      readonly reason: ChainBreak;
      readonly message: string;
    };

/** Where a (possibly partial) verification starts: after `index - 1` verified entries. */
export interface ChainCursor {
  readonly index: number;
  readonly prevHash: Digest;
  readonly prevSeq: number;
}

export const CHAIN_START: ChainCursor = Object.freeze({ index: 0, prevHash: GENESIS_HASH, prevSeq: 0 });

/**
 * Verifies entries in chain order and reports the FIRST broken one. Each entry must
 * (1) name the previous entry's hash as `prevHash`, (2) hash to its own `entryHash`, and
 * (3) carry a stream sequence greater than the previous entry's.
 *
 * Pass `from` to verify a page of a longer chain (the cursor returned as `next` by
 * {@link verifyChainPage}); the default starts at genesis.
 */
export function verifyChain(entries: readonly LedgerEntry[], from: ChainCursor = CHAIN_START): ChainVerification {
  const page = verifyChainPage(entries, from);
  if (!page.ok) return page;
  return { ok: true, size: page.next.index, headHash: page.next.prevHash, headSeq: page.next.prevSeq };
}

/** Like {@link verifyChain}, returning the cursor to continue with the next page. */
export function verifyChainPage(
  entries: readonly LedgerEntry[],
  from: ChainCursor,
): { readonly ok: true; readonly next: ChainCursor } | Extract<ChainVerification, { ok: false }> {
  let { prevHash, prevSeq } = from;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const index = from.index + i;
    const broken = (reason: ChainBreak, what: string) =>
      ({ ok: false, code: 'LEDGER_CHAIN_BROKEN', index, seq: e.seq, reason, message: `ledger entry ${index} (stream seq ${e.seq}): ${what}` }) as const;
    if (e.prevHash !== prevHash) return broken('prev-hash-mismatch', `prevHash ${e.prevHash} is not the previous entry's hash ${prevHash}`);
    const recomputed = entryHashOf(e);
    if (recomputed !== e.entryHash) return broken('entry-hash-mismatch', `entryHash ${e.entryHash} does not match the recomputed ${recomputed}`);
    if (!(e.seq > prevSeq)) return broken('seq-not-increasing', `seq ${e.seq} is not greater than the previous entry's seq ${prevSeq}`);
    prevHash = e.entryHash;
    prevSeq = e.seq;
  }
  return { ok: true, next: { index: from.index + entries.length, prevHash, prevSeq } };
}

/** Throws KoaRefusal LEDGER_CHAIN_BROKEN (details: index, seq, reason) if the verification failed. */
export function assertChainIntact(result: ChainVerification): Extract<ChainVerification, { ok: true }> {
  if (result.ok) return result;
  throw new KoaRefusal('LEDGER_CHAIN_BROKEN', result.message, { index: result.index, seq: result.seq, reason: result.reason });
}
