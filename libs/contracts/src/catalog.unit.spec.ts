import { createEvent, parseEvent, SnapshotCaptured, subjectOf, KoaRefusal, sha256Digest, digestHex } from '@koa/contracts';

const digest = sha256Digest('hello');
const captured = () =>
  createEvent(SnapshotCaptured, {
    id: 'evt-1',
    time: '2026-01-01T00:00:00.000Z',
    source: 'ingest-gateway',
    tenant: 'acme',
    aggregateId: digestHex(digest),
    actor: 'user:alice',
    data: {
      digest,
      size: 5,
      mediaType: 'application/json',
      source: 'docs',
      objectName: digestHex(digest),
      provenance: { adapter: { name: 'upload', version: '1' }, sourceRef: 'hello.json', capturedAt: '2026-01-01T00:00:00.000Z' },
    },
  });

describe('event catalog', () => {
  it('round-trips a created event through bytes', () => {
    const event = captured();
    const again = parseEvent(Buffer.from(JSON.stringify(event)), subjectOf(event));
    expect(again).toEqual(event);
    expect(subjectOf(event)).toBe(`koa.evt.acme.snapshot.${digestHex(digest)}`);
  });

  it('refuses data that fails its schema, naming the field', () => {
    const bad = { ...captured(), data: { ...captured().data, size: -1 } };
    try {
      parseEvent(JSON.stringify(bad));
      throw new Error('expected a refusal');
    } catch (e) {
      expect(e).toBeInstanceOf(KoaRefusal);
      expect((e as KoaRefusal).code).toBe('EVENT_DATA_INVALID');
      expect((e as KoaRefusal).message).toContain('size');
    }
  });
});
