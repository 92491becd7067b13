import { Logger } from '@nestjs/common';
import { STREAMS, digestHex, filters, parseEvent, subjects, type EventByType } from '@koa/contracts';
import type { Messaging, RawMessage } from '@koa/platform/messaging';

export type SnapshotSetSealed = EventByType<'io.koa.ingest.snapshotset.sealed.v1'>;

/**
 * How many digests (summed over the sets) {@link SealedSets} keeps at most — about 10 MB of
 * strings; the least recently used sets go first. A set larger than this is never kept.
 */
export const SEALED_SETS_MAX_DIGESTS = 100_000;

/**
 * The sealed snapshot sets a trigger names, answered from memory when this process has already
 * seen the set's `SnapshotSetSealed` stored on the event log, else read from the log.
 *
 * A set's subject `koa.evt.<tenant>.snapshotset.<root hex>` holds its ONE `SnapshotSetSealed`
 * (ingest appends it with expected last subject sequence 0) and a sealed set never changes, so
 * the event seen once is the answer for good. Two sources fill the memory, both with events the
 * stream has STORED (never a publish that may have been refused) and validated by `parseEvent`:
 *
 * - a watch (ordered consumer, `deliver: 'new'`) on `koa.evt.*.snapshotset.*`, started with the
 *   service: sets sealed while it runs are known before a trigger names them (no round trip);
 * - the read of a set nobody remembered: the subject's last message (`last_by_subj`, one round
 *   trip), falling back to the full read of the aggregate if that is not a valid
 *   `SnapshotSetSealed` (then nothing is remembered).
 *
 * Only sealed sets are remembered, never an absence: an unknown root is always read from the log
 * (fail closed — `SNAPSHOT_NOT_FOUND` only on what the log says). Anything else appearing on a
 * remembered subject forgets it (the next trigger reads the log, exactly as without memory).
 * Bounded by {@link SEALED_SETS_MAX_DIGESTS}; keys are tenant-scoped subjects.
 */
export class SealedSets {
  private readonly log = new Logger('SealedSets');
  /** subject ⇒ the stored event and its stream sequence, least recently used first */
  private readonly entries = new Map<string, { seq: number; event: SnapshotSetSealed }>();
  private digests = 0;
  private watching: { stop(): Promise<void> } | undefined;

  constructor(
    private readonly messaging: Pick<Messaging, 'watch' | 'lastMessage' | 'readAggregate'>,
    private readonly maxDigests = SEALED_SETS_MAX_DIGESTS,
  ) {}

  /** Starts following newly sealed sets. A failure is logged, not thrown: every set can still be read. */
  async start(): Promise<void> {
    if (this.watching) return;
    try {
      this.watching = await this.messaging.watch({ stream: STREAMS.events.name, filterSubject: filters.aggregate('snapshotset'), deliver: 'new' }, (m) => this.observe(m));
    } catch (e) {
      this.log.warn({ msg: 'cannot follow sealed snapshot sets; every trigger reads its set from the log', error: (e as Error)?.message });
    }
  }

  async stop(): Promise<void> {
    const w = this.watching;
    this.watching = undefined;
    await w?.stop();
  }

  /**
   * The `SnapshotSetSealed` of `root` for `tenant`, or undefined if the log has none: from memory,
   * else read (one `last_by_subj` round trip; the full read if anything else is on the subject).
   */
  async get(tenant: string, root: string): Promise<SnapshotSetSealed | undefined> {
    const subject = subjects.event(tenant, 'snapshotset', digestHex(root));
    const known = this.entries.get(subject);
    if (known) {
      this.entries.delete(subject);
      this.entries.set(subject, known);
      return known.event;
    }
    const last = await this.messaging.lastMessage(STREAMS.events.name, subject);
    if (!last) return undefined;
    const event = sealedOrUndefined(last);
    if (event) {
      this.remember(subject, last.seq, event);
      return event;
    }
    // the full read reports an invalid stored event with its sequence
    const set = await this.messaging.readAggregate(tenant, 'snapshotset', digestHex(root));
    return set.events.find((e): e is SnapshotSetSealed => e.type === 'io.koa.ingest.snapshotset.sealed.v1');
  }

  /** Whether the set is remembered (answered without a round trip). */
  has(tenant: string, root: string): boolean {
    return this.entries.has(subjects.event(tenant, 'snapshotset', digestHex(root)));
  }

  /** A message stored on a snapshot set subject (from the watch). */
  private observe(m: RawMessage): void {
    const event = sealedOrUndefined(m);
    if (event) this.remember(m.subject, m.seq, event);
    else this.forget(m.subject);
  }

  private remember(subject: string, seq: number, event: SnapshotSetSealed): void {
    const size = Math.max(1, event.data.digests.length);
    if (size > this.maxDigests) return;
    const known = this.entries.get(subject);
    // a later message on the subject was seen (the watch and a read may overlap): keep it
    if (known && known.seq > seq) return;
    this.forget(subject);
    this.entries.set(subject, { seq, event });
    this.digests += size;
    for (const [key, entry] of this.entries) {
      if (this.digests <= this.maxDigests) break;
      this.entries.delete(key);
      this.digests -= Math.max(1, entry.event.data.digests.length);
    }
  }

  private forget(subject: string): void {
    const known = this.entries.get(subject);
    if (!known) return;
    this.entries.delete(subject);
    this.digests -= Math.max(1, known.event.data.digests.length);
  }
}

/** The message as a valid `SnapshotSetSealed` event of its subject, or undefined. */
function sealedOrUndefined(m: Pick<RawMessage, 'data' | 'subject'>): SnapshotSetSealed | undefined {
  try {
    const event = parseEvent(m.data, m.subject);
    return event.type === 'io.koa.ingest.snapshotset.sealed.v1' ? (event as SnapshotSetSealed) : undefined;
  } catch {
    return undefined;
  }
}
