import { PrivateNatsServer, uniqueName } from '@koa/platform/testing';
import { caseClosed } from './__fixtures__/events';
import { CachedAggregates, Messaging } from './index';

describe('CachedAggregates (real NATS)', () => {
  let nats: PrivateNatsServer;
  let messaging: Messaging;
  let fullReads = 0;
  /** the real Messaging, counting the full reads the cache falls back to */
  let counted: Pick<Messaging, 'readAggregate' | 'lastMessage'>;

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    messaging = await Messaging.connect({ url: nats.url, name: 'cached-aggregates-int' });
    await messaging.ensureTopology();
    counted = {
      readAggregate: (...a) => ((fullReads += 1), messaging.readAggregate(...a)),
      lastMessage: (...a) => messaging.lastMessage(...a),
    };
  });

  afterAll(async () => {
    await messaging?.close();
    await nats?.dispose();
  });

  /** two events of a fresh aggregate (`case.<key>`): the cache is agnostic of what they mean */
  const openCase = (tenant: string, key: string) => {
    const caseId = `case-${key}`;
    return { caseId, events: [caseClosed(tenant, caseId, 1), caseClosed(tenant, caseId, 2)] };
  };

  it('after its own append a read answers from memory — the same events and sequence as a full read', async () => {
    const tenant = uniqueName('acme');
    const cache = new CachedAggregates(counted);
    const { caseId, events } = openCase(tenant, 'k1');
    const before = await cache.read(tenant, 'case', caseId);
    expect(before).toEqual({ events: [], lastSequence: 0 });
    const acks = await messaging.append(events, { expectedLastSubjectSequence: before.lastSequence });
    cache.appended(tenant, 'case', caseId, before, events, acks);
    fullReads = 0;
    const again = await cache.read(tenant, 'case', caseId);
    expect(fullReads).toBe(0);
    expect(again).toEqual(await messaging.readAggregate(tenant, 'case', caseId));
    expect(again.lastSequence).toBe(acks[1].seq);
  });

  it('an append by another writer is seen: the remembered copy is not used once the subject moved on', async () => {
    const tenant = uniqueName('acme');
    const cache = new CachedAggregates(counted);
    const { caseId, events } = openCase(tenant, 'k2');
    const before = await cache.read(tenant, 'case', caseId);
    const first = await messaging.append([events[0]], { expectedLastSubjectSequence: 0 });
    cache.appended(tenant, 'case', caseId, before, [events[0]], first);
    // someone else appends the next event
    await messaging.append([events[1]], { expectedLastSubjectSequence: first[0].seq });
    fullReads = 0;
    const read = await cache.read(tenant, 'case', caseId);
    expect(fullReads).toBe(1);
    expect(read.events.map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it('peek answers the remembered copy without asking the broker (stale after another writer — for guarded appends only)', async () => {
    const tenant = uniqueName('acme');
    const cache = new CachedAggregates(counted);
    const { caseId, events } = openCase(tenant, 'k4');
    expect(cache.peek(tenant, 'case', caseId)).toBeUndefined();
    const before = await cache.read(tenant, 'case', caseId);
    const first = await messaging.append([events[0]], { expectedLastSubjectSequence: 0 });
    cache.appended(tenant, 'case', caseId, before, [events[0]], first);
    await messaging.append([events[1]], { expectedLastSubjectSequence: first[0].seq });
    const peeked = cache.peek(tenant, 'case', caseId);
    expect(peeked?.lastSequence).toBe(first[0].seq);
    // a decision taken on it that appends something new is refused by the guard (the same event
    // again would be a msg-id duplicate: acknowledged, nothing stored)
    const other = { ...events[1], id: `${events[1].id}-other` };
    await expect(messaging.append([other], { expectedLastSubjectSequence: peeked?.lastSequence })).rejects.toMatchObject({ code: 'CONCURRENCY_CONFLICT' });
  });

  it('a duplicate ack forgets the aggregate (the log may hold other bytes): the next read is a full one', async () => {
    const tenant = uniqueName('acme');
    const cache = new CachedAggregates(counted);
    const { caseId, events } = openCase(tenant, 'k3');
    const before = await cache.read(tenant, 'case', caseId);
    await messaging.append(events, { expectedLastSubjectSequence: 0 });
    const dup = await messaging.append(events); // same msg ids ⇒ duplicates
    expect(dup.every((a) => a.duplicate)).toBe(true);
    cache.appended(tenant, 'case', caseId, before, events, dup);
    fullReads = 0;
    const read = await cache.read(tenant, 'case', caseId);
    expect(fullReads).toBe(1);
    expect(read.events).toHaveLength(2);
  });
});
