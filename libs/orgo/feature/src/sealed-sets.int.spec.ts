import { CaseClosed, SnapshotSetSealed, canonicalDigest, createEvent, digestHex, sha256Digest } from '@koa/contracts';
import { Messaging } from '@koa/platform/messaging';
import { PrivateNatsServer, eventually, uniqueName } from '@koa/platform/testing';
import { SealedSets } from './sealed-sets';

describe('SealedSets (real NATS)', () => {
  let nats: PrivateNatsServer;
  let messaging: Messaging;
  /** round trips the sets made to the broker (the real Messaging, counted) */
  let reads = 0;
  let counted: Pick<Messaging, 'watch' | 'lastMessage' | 'readAggregate'>;

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    messaging = await Messaging.connect({ url: nats.url, name: 'sealed-sets-int' });
    await messaging.ensureTopology();
    counted = {
      watch: (...a) => messaging.watch(...a),
      lastMessage: (...a) => ((reads += 1), messaging.lastMessage(...a)),
      readAggregate: (...a) => ((reads += 1), messaging.readAggregate(...a)),
    };
  });

  afterAll(async () => {
    await messaging?.close();
    await nats?.dispose();
  });

  const seal = async (tenant: string, label: string, n = 1) => {
    const digests = Array.from({ length: n }, (_, i) => sha256Digest(`${label}-${i}`)).sort();
    const root = canonicalDigest({ digests });
    const event = createEvent(SnapshotSetSealed, { id: `seal-${label}`, time: '2026-03-01T12:00:00.000Z', source: 'ingest-gateway', tenant, aggregateId: digestHex(root), actor: 'user:alice', data: { root, digests } });
    await messaging.append([event], { expectedLastSubjectSequence: 0 });
    return { root, digests, event };
  };

  it('a set sealed while the watch runs is answered from memory (no round trip), the same event the log holds', async () => {
    const tenant = uniqueName('acme');
    const sets = new SealedSets(counted);
    await sets.start();
    try {
      const { root, event } = await seal(tenant, 'a');
      await eventually(() => sets.has(tenant, root), { what: 'sealed set seen' });
      reads = 0;
      expect(await sets.get(tenant, root)).toEqual(event);
      expect(reads).toBe(0);
      // another tenant's subject is another key
      expect(sets.has(uniqueName('other'), root)).toBe(false);
    } finally {
      await sets.stop();
    }
  });

  it('a set sealed before is read once (last_by_subj), then remembered; an unsealed root is read every time and never remembered', async () => {
    const tenant = uniqueName('acme');
    const { root, event } = await seal(tenant, 'b');
    const sets = new SealedSets(counted);
    reads = 0;
    expect(await sets.get(tenant, root)).toEqual(event);
    expect(reads).toBe(1);
    expect(await sets.get(tenant, root)).toEqual(event);
    expect(reads).toBe(1);
    const unsealed = canonicalDigest({ digests: [sha256Digest('nope')] });
    expect(await sets.get(tenant, unsealed)).toBeUndefined();
    expect(await sets.get(tenant, unsealed)).toBeUndefined();
    expect(reads).toBe(3);
    expect(sets.has(tenant, unsealed)).toBe(false);
  });

  it('anything else stored on a remembered subject forgets it: the next answer is the full read of the log (which refuses the invalid event)', async () => {
    const tenant = uniqueName('acme');
    const sets = new SealedSets(counted);
    await sets.start();
    try {
      const { root, event } = await seal(tenant, 'c');
      await eventually(() => sets.has(tenant, root), { what: 'sealed set seen' });
      // not a SnapshotSetSealed (a valid event of another type, on the set's subject)
      const stray = createEvent(CaseClosed, { id: 'stray', time: '2026-03-01T12:00:00.000Z', source: 'orgo-control', tenant, aggregateId: digestHex(root), actor: 'service:orgo-control', data: { caseId: 'c-1', outcome: 'succeeded' } });
      await messaging.publish(`koa.evt.${tenant}.snapshotset.${digestHex(root)}`, new TextEncoder().encode(JSON.stringify(stray)));
      await eventually(() => !sets.has(tenant, root), { what: 'set forgotten' });
      reads = 0;
      // the last message is the stray one ⇒ the full read of the aggregate, which names the invalid stored event
      const refused = await sets.get(tenant, root).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'EVENT_SUBJECT_MISMATCH', details: { seq: expect.any(Number) } });
      expect(reads).toBe(2);
      expect(sets.has(tenant, root)).toBe(false);
      expect(event.type).toBe(SnapshotSetSealed.type);
    } finally {
      await sets.stop();
    }
  });

  it('is bounded by digests: least recently used sets go first; a set larger than the bound is never kept', async () => {
    const tenant = uniqueName('acme');
    const sets = new SealedSets(counted, 4);
    const a = await seal(tenant, 'd1', 2);
    const b = await seal(tenant, 'd2', 2);
    const c = await seal(tenant, 'd3', 1);
    const big = await seal(tenant, 'd4', 5);
    await sets.get(tenant, a.root);
    await sets.get(tenant, b.root);
    await sets.get(tenant, a.root); // a is now the most recently used
    await sets.get(tenant, c.root); // 5 digests > 4 ⇒ b goes
    expect([sets.has(tenant, a.root), sets.has(tenant, b.root), sets.has(tenant, c.root)]).toEqual([true, false, true]);
    expect(await sets.get(tenant, big.root)).toEqual(big.event);
    expect(sets.has(tenant, big.root)).toBe(false);
    expect([sets.has(tenant, a.root), sets.has(tenant, c.root)]).toEqual([true, true]);
  });
});
