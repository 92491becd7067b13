import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createEvent, STREAMS, subjectOf, TaskCompleted, type KoaEvent } from '@koa/contracts';
import { Messaging } from '@koa/platform/messaging';
import { bySize, now, seconds, type BenchContext, type Sample, type Suite } from '../harness';

const WINDOW = 256;

/** N distinct, valid events spread over 100 aggregates; ids unique per side and round. */
function makeEvents(n: number, tag: string): KoaEvent[] {
  const events: KoaEvent[] = [];
  for (let i = 0; i < n; i++) {
    events.push(
      createEvent(TaskCompleted, {
        id: `${tag}-${i}`,
        time: '2026-01-01T00:00:00.000Z',
        source: 'orgo-control',
        tenant: 'bench',
        aggregateId: `case-${i % 100}`,
        actor: 'service:bench',
        data: { caseId: `case-${i % 100}`, taskId: `t-${i}`, kind: 'build', outcome: 'succeeded' },
      }),
    );
  }
  return events;
}

/** Runs `fn` over items with at most WINDOW in flight (pipelined, like an async publisher). */
async function pipelined<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  return out;
}

let raw: NatsConnection | undefined;
let messaging: Messaging | undefined;

async function streamCount(): Promise<number> {
  const jsm = await jetstreamManager(raw!);
  return (await jsm.streams.info(STREAMS.events.name)).state.messages;
}

const size = (ctx: BenchContext): number => bySize(ctx, { smoke: 500, quick: 5_000, full: 20_000 });

export const eventAppend: Suite = {
  name: 'event-append',
  anchorText: 'nats.js JetStream publish of the JSON-serialised event (serialisation timed) with Nats-Msg-Id, pipelined (256 in flight), no async traces',
  oursText: 'messaging.append of CloudEvents made by createEvent (validated once, at creation; same bytes, same window)',
  metric: { kind: 'throughput', unit: 'events/s' },
  goal: { text: '≥ 0.8×', min: 0.8 },
  async setup(ctx) {
    raw = await connect({ servers: ctx.natsUrl, noAsyncTraces: true });
    messaging = await Messaging.connect({ url: ctx.natsUrl, name: 'bench-append' });
    await messaging.ensureTopology();
  },
  async anchor(ctx, _variant, round): Promise<Sample> {
    const events = makeEvents(size(ctx), `anchor-${round}`);
    // a raw publisher knows its subject (computed here, untimed), but serialising the event to bytes is
    // part of publishing it, exactly as on our side: timed (with the fastest UTF-8 encoding, Buffer.from)
    const payloads = events.map((e) => ({ subject: subjectOf(e), event: e }));
    const js = jetstream(raw!);
    const before = await streamCount();
    const t = now();
    const acks = await pipelined(payloads, (p) => js.publish(p.subject, Buffer.from(JSON.stringify(p.event), 'utf8'), { msgID: `${p.event.source}#${p.event.id}` }));
    const s = seconds(t);
    const stored = (await streamCount()) - before;
    const dup = acks.filter((a) => a.duplicate).length;
    const seqs = new Set(acks.map((a) => a.seq)).size;
    return { work: events.length, seconds: s, check: { ok: stored === events.length && dup === 0 && seqs === events.length, detail: `stored ${stored}/${events.length}, duplicates ${dup}, distinct seqs ${seqs}` } };
  },
  async ours(ctx, _variant, round): Promise<Sample> {
    const events = makeEvents(size(ctx), `ours-${round}`);
    const before = await streamCount();
    const t = now();
    const results = await pipelined(events, (e) => messaging!.append([e]));
    const s = seconds(t);
    const stored = (await streamCount()) - before;
    const flat = results.flat();
    const dup = flat.filter((r) => r.duplicate).length;
    const seqs = new Set(flat.map((r) => r.seq)).size;
    return { work: events.length, seconds: s, check: { ok: stored === events.length && dup === 0 && seqs === events.length, detail: `stored ${stored}/${events.length}, duplicates ${dup}, distinct seqs ${seqs}` } };
  },
  async teardown() {
    await messaging?.close();
    await raw?.close();
    messaging = undefined;
    raw = undefined;
  },
};
