import { createHash, randomBytes } from 'node:crypto';
import { OBJECT_STORES, STREAMS, KoaRefusal, isValidatedEvent, subjects, type KoaEvent } from '@koa/contracts';
import { PrivateNatsServer, eventually, uniqueName } from '@koa/platform/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Messaging, ConcurrencyConflict, type RawMessage } from './index';
import { caseClosed } from './__fixtures__/events';

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof KoaRefusal) return e.code;
    throw e;
  }
  throw new Error('expected a KoaRefusal');
};

describe('Messaging (real nats-server)', () => {
  let server: PrivateNatsServer;
  let messaging: Messaging;

  beforeAll(async () => {
    server = await PrivateNatsServer.start();
    messaging = await Messaging.connect({ url: server.url, name: 'messaging-int' });
    await messaging.ensureTopology();
  });
  afterAll(async () => {
    await messaging?.close();
    await server?.dispose();
  });

  const countOn = async (subject: string): Promise<number> => {
    const info = await messaging.jsm.streams.info(STREAMS.events.name, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  };

  it('fails fast with BROKER_UNAVAILABLE naming the URL when no server answers', async () => {
    const url = 'nats://127.0.0.1:1';
    const err = await Messaging.connect({ url, name: 'nobody', connectTimeoutMs: 500 }).catch((e) => e);
    expect(err).toBeInstanceOf(KoaRefusal);
    expect(err.code).toBe('BROKER_UNAVAILABLE');
    expect(err.message).toContain(url);
  });

  it('ensureTopology is idempotent and KOA_EVENTS is file storage that refuses delete and purge', async () => {
    await messaging.ensureTopology();
    await messaging.ensureTopology();
    const info = await messaging.jsm.streams.info(STREAMS.events.name);
    expect(info.config.storage).toBe('file');
    expect(info.config.deny_delete).toBe(true);
    expect(info.config.deny_purge).toBe(true);
    for (const s of Object.values(STREAMS)) expect((await messaging.jsm.streams.info(s.name)).config.subjects).toEqual([...s.subjects]);
    for (const os of Object.values(OBJECT_STORES)) await expect(messaging.jsm.streams.info(`OBJ_${os.bucket}`)).resolves.toBeDefined();
    // the server itself refuses to erase history (asked directly, not through our API)
    const { seq } = (await messaging.append([caseClosed('acme', uniqueName('c'), 1)]))[0];
    await expect(messaging.jsm.streams.purge(STREAMS.events.name)).rejects.toThrow(/purge not permitted/i);
    await expect(messaging.jsm.streams.deleteMessage(STREAMS.events.name, seq)).rejects.toThrow(/message delete not permitted/i);
    const after = await messaging.jsm.streams.info(STREAMS.events.name);
    expect(after.state.messages).toBeGreaterThan(0);
  });

  it('ensureTopology run by several services at once on a fresh server: every one succeeds, one topology', async () => {
    // five services boot together in a deployment (and in the demo): their creates race
    const own = await PrivateNatsServer.start();
    const clients = await Promise.all(Array.from({ length: 6 }, (_, i) => Messaging.connect({ url: own.url, name: `boot-${i}` })));
    try {
      const outcomes = await Promise.allSettled(clients.map((m) => m.ensureTopology()));
      expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason))).toEqual([]);
      const names = (await clients[0].jsm.streams.names().next()).sort();
      expect(names).toEqual([...Object.values(STREAMS).map((s) => s.name), ...Object.values(OBJECT_STORES).map((os) => `OBJ_${os.bucket}`)].sort());
    } finally {
      await Promise.all(clients.map((m) => m.close()));
      await own.dispose();
    }
  });

  it('deleting the KOA_EVENTS stream itself is refused by server permissions for service users', async () => {
    // deny_delete only protects messages; the stream is protected by the account permissions the
    // deployment gives every service user (deploy/): no STREAM.DELETE / STREAM.PURGE on KOA_* streams
    const own = await PrivateNatsServer.start({
      config: `authorization { users: [
        { user: svc, password: svc, permissions: { publish: { allow: [">"], deny: ${JSON.stringify(Object.values(STREAMS).flatMap((s) => ['DELETE', 'PURGE', 'MSG.DELETE'].map((op) => `$JS.API.STREAM.${op}.${s.name}`)))} } } }
      ] }`,
    });
    const m = await Messaging.connect({ url: `nats://svc:svc@127.0.0.1:${own.port}`, name: 'perm-test' });
    try {
      await m.ensureTopology();
      await expect(m.jsm.streams.delete(STREAMS.events.name)).rejects.toThrow(/permission/i);
      expect((await m.jsm.streams.info(STREAMS.events.name)).config.name).toBe(STREAMS.events.name);
    } finally {
      await m.close();
      await own.dispose();
    }
  });

  it('stores a duplicate Nats-Msg-Id (same source#id) once', async () => {
    const id = uniqueName('dup');
    const e = caseClosed('acme', id, 1);
    const [first] = await messaging.append([e]);
    const [second] = await messaging.append([e]);
    expect(first.duplicate).toBe(false);
    expect(second).toEqual({ seq: first.seq, duplicate: true });
    expect(await countOn(subjects.event('acme', 'case', id))).toBe(1);
  });

  it('appends with optimistic concurrency; a stale expected sequence throws ConcurrencyConflict and writes nothing', async () => {
    const id = uniqueName('occ');
    const subject = subjects.event('acme', 'case', id);
    const acks = await messaging.append([caseClosed('acme', id, 1), caseClosed('acme', id, 2)], { expectedLastSubjectSequence: 0 });
    expect(acks[1].seq).toBeGreaterThan(acks[0].seq);
    const { events, lastSequence } = await messaging.readAggregate('acme', 'case', id);
    expect(events.map((e) => e.id)).toEqual([`evt-acme-${id}-1`, `evt-acme-${id}-2`]);
    expect(lastSequence).toBe(acks[1].seq);

    // two writers decided on the same state; the first wins, the second conflicts
    const [a, b] = await Promise.allSettled([
      messaging.append([caseClosed('acme', id, 3)], { expectedLastSubjectSequence: lastSequence }),
      messaging.append([caseClosed('acme', id, 4), caseClosed('acme', id, 5)], { expectedLastSubjectSequence: lastSequence }),
    ]);
    const rejected = [a, b].filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(rejected).toHaveLength(1);
    expect(rejected[0].reason).toBeInstanceOf(ConcurrencyConflict);
    expect(rejected[0].reason.code).toBe('CONCURRENCY_CONFLICT');
    expect(rejected[0].reason.details).toMatchObject({ subject, expected: lastSequence });
    const countAfterRace = await countOn(subject);
    expect([3, 4]).toContain(countAfterRace);

    // a stale writer changes nothing
    const before = await countOn(subject);
    expect(await codeOf(messaging.append([caseClosed('acme', id, 6)], { expectedLastSubjectSequence: lastSequence }))).toBe('CONCURRENCY_CONFLICT');
    expect(await countOn(subject)).toBe(before);
    // "must not exist yet" on an existing aggregate conflicts too
    expect(await codeOf(messaging.append([caseClosed('acme', id, 7)], { expectedLastSubjectSequence: 0 }))).toBe('CONCURRENCY_CONFLICT');
  });

  it('refuses invalid events before sending anything, and events of two aggregates in one append', async () => {
    const id = uniqueName('bad');
    const bad = { ...caseClosed('acme', id, 1), data: { caseId: id, outcome: 'maybe' } } as unknown as KoaEvent;
    expect(await codeOf(messaging.append([caseClosed('acme', id, 0), bad]))).toBe('EVENT_DATA_INVALID');
    expect(await countOn(subjects.event('acme', 'case', id))).toBe(0);
    expect(await codeOf(messaging.append([caseClosed('acme', id, 1), caseClosed('acme', `${id}x`, 1)]))).toBe('EVENT_SUBJECT_MISMATCH');
    expect(await codeOf(messaging.readAggregate('acme', 'case', 'a.b'))).toBe('SUBJECT_TOKEN_INVALID');
  });

  it('validates once: a createEvent result is appended (frozen, cannot change); a hand-built, copied or tampered event is validated and refused as before', async () => {
    const id = uniqueName('brand');
    const good = caseClosed('acme', id, 0);
    expect(isValidatedEvent(good)).toBe(true);
    // a createEvent result cannot be changed after validation (deep-frozen; the spec runs in strict mode)
    expect(() => {
      (good.data as { outcome: string }).outcome = 'maybe';
    }).toThrow(TypeError);
    expect(() => {
      (good as { tenantid: string }).tenantid = 'other';
    }).toThrow(TypeError);
    expect(good.data.outcome).toBe('succeeded');
    // hand-built (a plain object with the same fields, but invalid data), a spread copy with tampered data, a JSON round trip with tampered data
    const handBuilt = JSON.parse(JSON.stringify({ ...caseClosed('acme', id, 1), data: { caseId: id, outcome: 'maybe' } })) as KoaEvent;
    const copied = { ...caseClosed('acme', id, 2), data: { caseId: id, outcome: 'maybe' } } as unknown as KoaEvent;
    const wrongSubject = { ...caseClosed('acme', id, 3), subject: 'snapshot/x' } as unknown as KoaEvent;
    for (const e of [handBuilt, copied, wrongSubject]) expect(isValidatedEvent(e)).toBe(false);
    expect(await codeOf(messaging.append([handBuilt]))).toBe('EVENT_DATA_INVALID');
    expect(await codeOf(messaging.append([copied]))).toBe('EVENT_DATA_INVALID');
    expect(await codeOf(messaging.append([wrongSubject]))).toBe('EVENT_SUBJECT_MISMATCH');
    // a proxy around a branded event is another object (not branded)
    expect(isValidatedEvent(new Proxy(good, {}))).toBe(false);
    expect(await countOn(subjects.event('acme', 'case', id))).toBe(0);
    // a valid copy is validated and appended like the original would be
    const [ack] = await messaging.append([good]);
    expect(ack.duplicate).toBe(false);
    const [again] = await messaging.append([JSON.parse(JSON.stringify(good)) as KoaEvent]);
    expect(again).toEqual({ seq: ack.seq, duplicate: true });
    expect(await countOn(subjects.event('acme', 'case', id))).toBe(1);
    const { events } = await messaging.readAggregate('acme', 'case', id);
    expect(events).toEqual([good]);
  });

  it('readAggregate of an unknown aggregate is empty with lastSequence 0', async () => {
    expect(await messaging.readAggregate('acme', 'case', uniqueName('none'))).toEqual({ events: [], lastSequence: 0 });
  });

  it('readAggregate refuses a stored event that fails validation, naming the sequence', async () => {
    const id = uniqueName('corrupt');
    const subject = subjects.event('acme', 'case', id);
    const { seq } = await messaging.publish(subject, new TextEncoder().encode('{"not":"an event"}'));
    const err = await messaging.readAggregate('acme', 'case', id).catch((e) => e);
    expect(err.code).toBe('ENVELOPE_MALFORMED');
    expect(err.details.seq).toBe(seq);
  });

  it('lastMessage returns the last message on a subject, or undefined', async () => {
    const subject = `koa.release.acme.dev.${uniqueName('ch')}`;
    expect(await messaging.lastMessage(STREAMS.releases.name, subject)).toBeUndefined();
    await messaging.publish(subject, new TextEncoder().encode('n1'), { headers: { 'Koa-Test': 'one' } });
    const { seq } = await messaging.publish(subject, new TextEncoder().encode('n2'), { headers: { 'Koa-Test': 'two' } });
    const last = await messaging.lastMessage(STREAMS.releases.name, subject);
    expect(last).toMatchObject({ subject, seq, headers: { 'Koa-Test': 'two' } });
    expect(new TextDecoder().decode(last?.data)).toBe('n2');
  });

  it('watch delivers the last message per subject, then new ones', async () => {
    const tenant = uniqueName('t');
    const enc = new TextEncoder();
    await messaging.publish(`koa.release.${tenant}.dev.a`, enc.encode('a1'));
    await messaging.publish(`koa.release.${tenant}.dev.a`, enc.encode('a2'));
    await messaging.publish(`koa.release.${tenant}.dev.b`, enc.encode('b1'));
    const seen: RawMessage[] = [];
    const w = await messaging.watch({ stream: STREAMS.releases.name, filterSubject: `koa.release.${tenant}.>`, deliver: 'last-per-subject' }, (m) => {
      seen.push(m);
    });
    try {
      await eventually(() => seen.length === 2, { what: 'last per subject' });
      expect(seen.map((m) => new TextDecoder().decode(m.data)).sort()).toEqual(['a2', 'b1']);
      await messaging.publish(`koa.release.${tenant}.dev.a`, enc.encode('a3'));
      await eventually(() => seen.length === 3, { what: 'new message' });
      expect(new TextDecoder().decode(seen[2].data)).toBe('a3');
    } finally {
      await w.stop();
    }
  });

  it('watch with a small pageSize still delivers every message once, in stream order (several pulls); a pageSize < 1 is CONFIG_INVALID', async () => {
    const tenant = uniqueName('t');
    const enc = new TextEncoder();
    const seqs: number[] = [];
    for (let i = 0; i < 50; i++) seqs.push((await messaging.publish(`koa.evt.${tenant}.case.c${i % 4}`, enc.encode(`m${i}`))).seq);
    const seen: RawMessage[] = [];
    const w = await messaging.watch({ stream: STREAMS.events.name, filterSubject: `koa.evt.${tenant}.>`, deliver: 'all', pageSize: 7 }, (m) => {
      seen.push(m);
    });
    try {
      await eventually(() => seen.length >= 50, { what: '50 messages' });
      expect(seen.map((m) => m.seq)).toEqual(seqs);
      expect(seen.map((m) => new TextDecoder().decode(m.data))).toEqual(seqs.map((_, i) => `m${i}`));
    } finally {
      await w.stop();
    }
    await expect(messaging.watch({ stream: STREAMS.events.name, filterSubject: `koa.evt.${tenant}.>`, deliver: 'all', pageSize: 0 }, () => undefined)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('blobs round-trip (put/get/getStream/info), including a multi-MiB object', async () => {
    const store = await messaging.blobs(OBJECT_STORES.packs.bucket);
    const big = randomBytes(5 * 1024 * 1024 + 123);
    const name = `acme/${'a'.repeat(64)}`;
    expect(await store.info(name)).toBeUndefined();
    expect(await store.get(name)).toBeUndefined();
    const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    expect(await store.put(name, big, { description: 'test pack' })).toEqual({ name, size: big.length, sha256: sha256(big) });
    expect(await store.info(name)).toEqual({ name, size: big.length });
    expect(Buffer.from((await store.get(name)) ?? []).equals(big)).toBe(true);
    const stream = await store.getStream(name);
    const chunks: Uint8Array[] = [];
    for await (const c of stream as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
    // streamed put
    const small = randomBytes(300_000);
    const rs = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(small.subarray(0, 100_000));
        c.enqueue(small.subarray(100_000));
        c.close();
      },
    });
    expect(await store.put('acme/streamed', rs)).toEqual({ name: 'acme/streamed', size: small.length, sha256: sha256(small) });
    expect(Buffer.from((await store.get('acme/streamed')) ?? []).equals(small)).toBe(true);
    expect(await codeOf(messaging.blobs('not-a-bucket'))).toBe('CONFIG_INVALID');
    // opened once per bucket and kept; a refused open is not kept (the next call asks again)
    expect(messaging.blobs(OBJECT_STORES.packs.bucket)).toBe(messaging.blobs(OBJECT_STORES.packs.bucket));
    const refused = messaging.blobs('not-a-bucket');
    expect(await codeOf(refused)).toBe('CONFIG_INVALID');
    const again = messaging.blobs('not-a-bucket');
    expect(again).not.toBe(refused);
    expect(await codeOf(again)).toBe('CONFIG_INVALID');
  });

  it('ping is true while the server answers and false after it stops', async () => {
    const own = await PrivateNatsServer.start();
    const m = await Messaging.connect({ url: own.url, name: 'ping-test' });
    try {
      expect(await m.ping(10_000)).toBe(true); // a round trip that returns at once; the bound only covers a loaded machine
      await own.stop('SIGKILL');
      expect(await m.ping(300)).toBe(false);
    } finally {
      await m.close();
      await own.dispose();
    }
  });

  it('a second client sees the same streams (sanity: no client-side state)', async () => {
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info(STREAMS.deadLetters.name)).config.name).toBe('KOA_DLQ');
    } finally {
      await nc.close();
    }
  });
});
