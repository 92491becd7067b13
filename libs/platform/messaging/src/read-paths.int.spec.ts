import { createHash, randomBytes } from 'node:crypto';
import { KoaRefusal, OBJECT_STORES, STREAMS, parseEvent, subjects, type AnyKoaEvent } from '@koa/contracts';
import { PrivateNatsServer, uniqueName } from '@koa/platform/testing';
import { DeliverPolicy } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { Messaging, READ_WALK_MAX } from './messaging';
import { caseClosed } from './__fixtures__/events';

/**
 * Contract of the cheaper read paths against real nats-server: `readAggregate` (gets, several
 * ranges at once; an ordered consumer past `READ_WALK_MAX` or for a dense stretch) returns exactly what a read with one ordered
 * consumer over the whole subject returns — the path it replaced — and the one-chunk blob reads
 * return exactly the stored bytes (nats.js' streaming get for everything else).
 */
describe('read paths: readAggregate and one-chunk blob reads (real nats-server)', () => {
  let server: PrivateNatsServer;
  let messaging: Messaging;

  beforeAll(async () => {
    server = await PrivateNatsServer.start();
    messaging = await Messaging.connect({ url: server.url, name: 'read-paths-int' });
    await messaging.ensureTopology();
  });
  afterAll(async () => {
    await messaging?.close();
    await server?.dispose();
  });

  /** The replaced path: last sequence, then one ordered consumer over the subject from its start. */
  async function referenceRead(tenant: string, id: string): Promise<{ events: AnyKoaEvent[]; lastSequence: number }> {
    const subject = subjects.event(tenant, 'case', id);
    const stream = STREAMS.events.name;
    const last = await messaging.jsm.streams.getMessage(stream, { last_by_subj: subject });
    if (!last) return { events: [], lastSequence: 0 };
    const events: AnyKoaEvent[] = [];
    const consumer = await messaging.js.consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
    const iter = await consumer.consume({ max_messages: 256 });
    try {
      for await (const m of iter) {
        events.push(parseEvent(m.data, m.subject));
        if (m.seq >= last.seq) break;
      }
    } finally {
      await iter.close();
      await consumer.delete();
    }
    return { events, lastSequence: last.seq };
  }

  const consumerCount = async (): Promise<number> => (await messaging.jsm.streams.info(STREAMS.events.name)).state.consumer_count;

  it('returns the same events and lastSequence as one ordered consumer, for 0, 1, a few, the walk limit, one past it and many (300) events, interleaved with other subjects or contiguous', async () => {
    const sizes = [0, 1, 3, 7, READ_WALK_MAX - 1, READ_WALK_MAX, READ_WALK_MAX + 1, 300];
    const base = uniqueName('ra');
    const ids = new Map(sizes.map((n) => [n, `${base}-${n}`]));
    // neighbours that share a prefix with the aggregates (x-3 vs x-30) and plain noise, interleaved
    const max = Math.max(...sizes);
    for (let i = 1; i <= max; i++) {
      for (const n of sizes) if (i <= n) await messaging.append([caseClosed('acme', ids.get(n) as string, i)]);
      await messaging.append([caseClosed('acme', `${base}-3${i % 2}`, i)]);
      if (i % 3 === 0) await messaging.append([caseClosed('other', ids.get(3) as string, i)]);
    }
    // and aggregates appended in one go (contiguous sequences: the densest stretch there is)
    for (const n of [2, 12, 40]) {
      ids.set(-n, `${base}-dense-${n}`);
      await messaging.append(Array.from({ length: n }, (_, i) => caseClosed('acme', `${base}-dense-${n}`, i + 1)));
    }
    for (const [key, id] of ids) {
      const n = Math.abs(key);
      const ours = await messaging.readAggregate('acme', 'case', id);
      const reference = await referenceRead('acme', id);
      expect(ours.events.length).toBe(n);
      expect(ours.events.map((e) => e.id)).toEqual(Array.from({ length: n }, (_, i) => `evt-acme-${id}-${i + 1}`));
      expect(ours).toEqual(reference);
    }
    // the consumer of the long reads is not left behind (deleted without waiting: give it a moment)
    for (let i = 0; i < 50 && (await consumerCount()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await consumerCount()).toBe(0);
  });

  it('an aggregate appended to while it is read: every event up to the lastSequence it reports, none after it', async () => {
    const id = uniqueName('racing');
    for (let i = 1; i <= READ_WALK_MAX + 4; i++) await messaging.append([caseClosed('acme', id, i)]);
    let n = READ_WALK_MAX + 4;
    const writer = (async () => {
      for (let k = 0; k < 20; k++) await messaging.append([caseClosed('acme', id, ++n)]);
    })();
    const reads = [];
    for (let k = 0; k < 10; k++) reads.push(await messaging.readAggregate('acme', 'case', id));
    await writer;
    reads.push(await messaging.readAggregate('acme', 'case', id));
    for (const r of reads) {
      expect(r.events.map((e) => e.id)).toEqual(Array.from({ length: r.events.length }, (_, i) => `evt-acme-${id}-${i + 1}`));
      const last = await messaging.jsm.streams.getMessage(STREAMS.events.name, { seq: r.lastSequence });
      expect(last?.subject).toBe(subjects.event('acme', 'case', id));
      expect(parseEvent(last?.data ?? new Uint8Array(), last?.subject).id).toBe(r.events[r.events.length - 1].id);
    }
    expect(reads[reads.length - 1]).toEqual(await referenceRead('acme', id));
  });

  it('a stored event that fails validation is refused with its code and sequence, on the get path and on the consumer path', async () => {
    for (const position of [2, READ_WALK_MAX + 2]) {
      const id = uniqueName(`corrupt-at-${position}`);
      const subject = subjects.event('acme', 'case', id);
      let bad = 0;
      for (let i = 1; i <= position + 1; i++) {
        if (i === position) bad = (await messaging.publish(subject, new TextEncoder().encode('{"not":"an event"}'))).seq;
        else await messaging.append([caseClosed('acme', id, i)]);
      }
      const err = await messaging.readAggregate('acme', 'case', id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KoaRefusal);
      expect((err as KoaRefusal).code).toBe('ENVELOPE_MALFORMED');
      expect((err as KoaRefusal).details).toMatchObject({ seq: bad });
    }
  });

  describe('blobs', () => {
    const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
    const streamed = async (s: ReadableStream<Uint8Array> | undefined): Promise<Buffer> => {
      const chunks: Uint8Array[] = [];
      for await (const c of s as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
      return Buffer.concat(chunks);
    };

    it('get and getStream return the stored bytes for objects of 0, 1, one chunk (128 KiB) and one byte more, and undefined for none', async () => {
      const store = await messaging.blobs(OBJECT_STORES.packs.bucket);
      const consumers = async (): Promise<number> => (await messaging.jsm.streams.info(`OBJ_${OBJECT_STORES.packs.bucket}`)).state.consumer_count;
      for (const size of [1, 1000, 128 * 1024, 0, 128 * 1024 + 1, 300_000]) {
        const name = `acme/${uniqueName(`size-${size}`)}`;
        const bytes = randomBytes(size);
        expect((await store.put(name, bytes)).sha256).toBe(sha256(bytes));
        const before = await consumers();
        expect(Buffer.from((await store.get(name)) ?? new Uint8Array([1])).equals(bytes)).toBe(true);
        expect((await streamed(await store.getStream(name))).equals(bytes)).toBe(true);
        // one-chunk objects are read with gets: no consumer (nats.js' get leaves one per read)
        if (size > 0 && size <= 128 * 1024) expect(await consumers()).toBe(before);
      }
      expect(await store.get(`acme/${uniqueName('none')}`)).toBeUndefined();
      expect(await store.getStream(`acme/${uniqueName('none')}`)).toBeUndefined();
    });

    it('a replaced object reads as its latest bytes', async () => {
      const store = await messaging.blobs(OBJECT_STORES.packs.bucket);
      const name = `acme/${uniqueName('replaced')}`;
      await store.put(name, randomBytes(5000));
      const latest = randomBytes(6000);
      await store.put(name, latest);
      expect(Buffer.from((await store.get(name)) ?? []).equals(latest)).toBe(true);
      expect((await streamed(await store.getStream(name))).equals(latest)).toBe(true);
    });

    it('a one-chunk object whose stored chunk no longer matches its digest is refused, as nats.js refuses it (get throws, the stream errors)', async () => {
      const store = await messaging.blobs(OBJECT_STORES.packs.bucket);
      const name = `acme/${uniqueName('tampered')}`;
      const bytes = randomBytes(4096);
      await store.put(name, bytes);
      const info = await (await new Objm(messaging.connection).open(OBJECT_STORES.packs.bucket)).info(name);
      expect(info?.chunks).toBe(1);
      // a second message on the object's chunk subject, of the same size (what a last-chunk read would find)
      const tampered = Buffer.from(bytes);
      tampered[0] ^= 0xff;
      await messaging.js.publish(`$O.${OBJECT_STORES.packs.bucket}.C.${info?.nuid}`, tampered);
      const err = await store.get(name).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KoaRefusal);
      expect(String((err as Error).message)).toMatch(/corrupt object, digests do not match/);
      await expect(streamed(await store.getStream(name))).rejects.toThrow(/corrupt object, digests do not match/);
    });
  });
});
