import { STREAMS, subjects, type AggregateKind, type AnyKoaEvent } from '@koa/contracts';
import type { Messaging } from './messaging';

/** What `Messaging.readAggregate` answers: the events in stream order and the subject's last sequence. */
export interface AggregateRead {
  readonly events: readonly AnyKoaEvent[];
  readonly lastSequence: number;
}

/**
 * The aggregates this process last read or wrote, each re-validated before use: a read first asks
 * the broker for the subject's last sequence (one `last_by_subj` round trip) and answers from
 * memory only if it is still the remembered one — otherwise (or when nothing is remembered) it is
 * a full `readAggregate`. Answers are therefore exactly what `readAggregate` would return; the
 * saving is the ordered consumer a full read creates, reads and deletes (three more round trips).
 *
 * It pays where this process is the aggregate's usual writer (orgo-control and its Cases,
 * konnaxion-release and its channels): after its own append the next read is a hit. Bounded
 * (least recently used first out). One instance per process and use; not shared across tenants'
 * trust boundaries beyond what the subject already scopes (the key is the tenant-scoped subject).
 */
export class CachedAggregates {
  private readonly entries = new Map<string, AggregateRead>();

  constructor(
    private readonly messaging: Pick<Messaging, 'readAggregate' | 'lastMessage'>,
    private readonly max = 1024,
  ) {}

  async read(tenant: string, aggregate: AggregateKind, id: string): Promise<AggregateRead> {
    const subject = subjects.event(tenant, aggregate, id);
    const cached = this.entries.get(subject);
    if (cached) {
      const last = await this.messaging.lastMessage(STREAMS.events.name, subject);
      if (last && last.seq === cached.lastSequence) {
        this.remember(subject, cached);
        return cached;
      }
    }
    const fresh = await this.messaging.readAggregate(tenant, aggregate, id);
    this.remember(subject, fresh);
    return fresh;
  }

  /**
   * The remembered copy, NOT re-validated (undefined if none): only for a decision whose every
   * effect is an append guarded by `lastSequence` — a stale copy then conflicts instead of
   * writing. Anything else (an answer, a refusal, "nothing to do") needs {@link read}.
   */
  peek(tenant: string, aggregate: AggregateKind, id: string): AggregateRead | undefined {
    return this.entries.get(subjects.event(tenant, aggregate, id));
  }

  /**
   * Records a successful guarded append of `events` on top of `before` (what the caller read and
   * passed as `expectedLastSubjectSequence`). An ack marked duplicate means the log may hold other
   * bytes than `events`: the entry is dropped and the next read is a full one.
   */
  appended(tenant: string, aggregate: AggregateKind, id: string, before: AggregateRead, events: readonly AnyKoaEvent[], acks: ReadonlyArray<{ seq: number; duplicate: boolean }>): void {
    const subject = subjects.event(tenant, aggregate, id);
    const last = acks[acks.length - 1];
    if (!last || acks.length !== events.length || acks.some((a) => a.duplicate)) {
      this.entries.delete(subject);
      return;
    }
    this.remember(subject, { events: [...before.events, ...events], lastSequence: last.seq });
  }

  /** Forgets an aggregate (after a failed or conflicting append). */
  forget(tenant: string, aggregate: AggregateKind, id: string): void {
    this.entries.delete(subjects.event(tenant, aggregate, id));
  }

  private remember(subject: string, read: AggregateRead): void {
    this.entries.delete(subject);
    this.entries.set(subject, read);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
  }
}
