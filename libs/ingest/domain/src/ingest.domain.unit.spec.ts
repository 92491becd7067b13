import fc from 'fast-check';
import { KoaRefusal, canonicalJson, parseEvent, sha256Digest, subjectOf } from '@koa/contracts';
import {
  ADAPTERS,
  ContentMeter,
  buildProvenance,
  decodeInbound,
  inboundAttemptId,
  measureContent,
  normalizeMediaType,
  parseInboundSubject,
  sealSnapshotSet,
  snapshotCapturedEvent,
  snapshotRejectedEvent,
} from '@koa/ingest/domain';

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(KoaRefusal);
    return (e as KoaRefusal).code;
  }
  throw new Error('expected a refusal');
};
const bytes = (s: string) => new Uint8Array(Buffer.from(s));

describe('content size policy', () => {
  it('hashes streamed chunks to the digest of the whole', () => {
    const meter = new ContentMeter(100);
    meter.update(bytes('hello '));
    meter.update(bytes('world'));
    expect(meter.finish()).toEqual({ digest: sha256Digest('hello world'), size: 11 });
  });

  it('refuses empty content INGEST_EMPTY', () => {
    expect(codeOf(() => new ContentMeter(10).finish())).toBe('INGEST_EMPTY');
  });

  it('refuses INGEST_TOO_LARGE as soon as the bound is passed, and accepts exactly the bound', () => {
    expect(measureContent(new Uint8Array(10), 10).size).toBe(10);
    const meter = new ContentMeter(10);
    meter.update(new Uint8Array(6));
    expect(codeOf(() => meter.update(new Uint8Array(5)))).toBe('INGEST_TOO_LARGE');
  });

  it('refuses a nonsense bound CONFIG_INVALID', () => {
    expect(codeOf(() => new ContentMeter(0))).toBe('CONFIG_INVALID');
  });
});

describe('media types', () => {
  it.each([
    ['text/plain', 'text/plain'],
    ['Text/Markdown; charset=UTF-8', 'text/markdown'],
    ['application/json', 'application/json'],
    ['application/x-ndjson', 'application/x-ndjson'],
    ['application/octet-stream', 'application/octet-stream'],
  ])('accepts %s as %s', (raw, essence) => expect(normalizeMediaType(raw)).toBe(essence));

  it.each([[undefined], [''], ['image/png'], ['text/html'], ['application/json-ish']])('refuses %s INGEST_MALFORMED naming the field', (raw) => {
    try {
      normalizeMediaType(raw, 'Content-Type');
      throw new Error('expected refusal');
    } catch (e) {
      expect((e as KoaRefusal).code).toBe('INGEST_MALFORMED');
      expect((e as KoaRefusal).message).toContain('Content-Type');
    }
  });
});

describe('snapshot sets', () => {
  const a = sha256Digest('a');
  const b = sha256Digest('b');

  it('root = sha256 of the canonical JSON of the sorted unique digests', () => {
    const set = sealSnapshotSet([b, a, b]);
    expect(set.digests).toEqual([a, b].sort());
    expect(set.root).toBe(sha256Digest(`{"digests":${JSON.stringify([a, b].sort())}}`));
    expect(set.root).toBe(sha256Digest(canonicalJson({ digests: [a, b].sort() })));
  });

  it('order and repetition never change the root (property)', () => {
    const digestArb = fc.uint8Array({ minLength: 1, maxLength: 8 }).map((u) => sha256Digest(u));
    fc.assert(
      fc.property(fc.array(digestArb, { minLength: 1, maxLength: 20 }), fc.infiniteStream(fc.nat()), (ds, rnd) => {
        const shuffled = [...ds, ...ds].map((d) => [rnd.next().value, d] as const).sort((x, y) => x[0] - y[0]).map(([, d]) => d);
        expect(sealSnapshotSet(shuffled)).toEqual(sealSnapshotSet(ds));
      }),
      { numRuns: 100 },
    );
  });

  it('refuses empty SNAPSHOT_SET_EMPTY and a bad digest REQUEST_INVALID naming it', () => {
    expect(codeOf(() => sealSnapshotSet([]))).toBe('SNAPSHOT_SET_EMPTY');
    expect(() => sealSnapshotSet([a, 'sha256:XYZ'])).toThrow(expect.objectContaining({ code: 'REQUEST_INVALID', message: expect.stringContaining('digests[1]') }));
    expect(codeOf(() => sealSnapshotSet('nope'))).toBe('REQUEST_INVALID');
  });
});

describe('provenance and events', () => {
  const capturedAt = '2026-03-01T10:00:00.000Z';

  it('records adapter, sourceRef (default upload), capture time and validators', () => {
    expect(buildProvenance({ adapter: ADAPTERS.httpUpload, capturedAt })).toEqual({ adapter: { name: 'http-upload', version: '1.0.0' }, sourceRef: 'upload', capturedAt });
    expect(buildProvenance({ adapter: ADAPTERS.natsPublish, capturedAt, sourceRef: 'feed/42', validators: { etag: '"abc"', 'last-modified': ' ' } })).toEqual({
      adapter: ADAPTERS.natsPublish,
      sourceRef: 'feed/42',
      capturedAt,
      validators: { etag: '"abc"' },
    });
    expect(codeOf(() => buildProvenance({ adapter: ADAPTERS.httpUpload, capturedAt, sourceRef: 'x'.repeat(1025) }))).toBe('INGEST_MALFORMED');
  });

  it('SnapshotCaptured lives on snapshot/<hex> and names the tenant-scoped object', () => {
    const digest = sha256Digest('hello');
    const event = snapshotCapturedEvent(
      { id: 'e1', time: capturedAt, tenant: 'acme', actor: 'user:alice', reason: 'because' },
      { digest, size: 5, mediaType: 'text/plain', source: 'docs', provenance: buildProvenance({ adapter: ADAPTERS.httpUpload, capturedAt }) },
    );
    expect(subjectOf(event)).toBe(`koa.evt.acme.snapshot.${digest.slice(7)}`);
    expect(event.data.objectName).toBe(`acme/${digest.slice(7)}`);
    expect(parseEvent(JSON.stringify(event))).toEqual(event);
  });

  it('SnapshotRejected carries the refusal code under a deterministic attempt id', () => {
    const id = inboundAttemptId(7, 'msg-1');
    expect(id).toBe(inboundAttemptId(7, 'msg-1'));
    expect(id).not.toBe(inboundAttemptId(8, 'msg-1'));
    const event = snapshotRejectedEvent({ id: 'r1', time: capturedAt, tenant: 'acme', actor: 'webhook:docs' }, { attemptId: id, refusal: new KoaRefusal('INGEST_EMPTY', 'empty'), source: 'docs' });
    expect(event.subject).toBe(`ingest/${id}`);
    expect(event.data.code).toBe('INGEST_EMPTY');
  });
});

describe('inbound messages', () => {
  const msg = (data: unknown, over: Record<string, unknown> = {}) => bytes(JSON.stringify({ specversion: '1.0', id: 'm1', source: 'feed', type: 'io.koa.ingest.content.v1', data, ...over }));

  it('parses subject tokens, refusing wildcards and bad tokens SUBJECT_TOKEN_INVALID', () => {
    expect(parseInboundSubject('koa.ingest.acme.docs')).toEqual({ tenant: 'acme', source: 'docs' });
    expect(codeOf(() => parseInboundSubject('koa.ingest.acme'))).toBe('SUBJECT_TOKEN_INVALID');
    expect(codeOf(() => parseInboundSubject('koa.ingest.ac@me.docs'))).toBe('SUBJECT_TOKEN_INVALID');
  });

  it('decodes utf8 and base64 inline content and object references', () => {
    const u = decodeInbound('acme', 'docs', msg({ encoding: 'utf8', content: 'héllo', mediaType: 'text/plain', sourceRef: 'x' }));
    expect(u.content).toEqual({ kind: 'inline', bytes: bytes('héllo') });
    expect(u.actor).toBe('webhook:docs');
    const b = decodeInbound('acme', 'docs', msg({ encoding: 'base64', content: Buffer.from([0, 1, 2]).toString('base64'), mediaType: 'application/octet-stream', sourceRef: 'x' }, { actor: 'service:feeder' }));
    expect(b.content).toEqual({ kind: 'inline', bytes: new Uint8Array([0, 1, 2]) });
    expect(b.actor).toBe('service:feeder');
    expect(decodeInbound('acme', 'docs', msg({ objectRef: 'acme/incoming/1', mediaType: 'text/plain', sourceRef: 'x' })).content).toEqual({ kind: 'object', objectRef: 'acme/incoming/1' });
  });

  it.each([
    ['not JSON', bytes('{nope'), 'INGEST_MALFORMED'],
    ['wrong type', msg({ encoding: 'utf8', content: 'x', mediaType: 'text/plain', sourceRef: 'x' }, { type: 'io.koa.other.v1' }), 'INGEST_MALFORMED'],
    ['unknown media type', msg({ encoding: 'utf8', content: 'x', mediaType: 'image/png', sourceRef: 'x' }), 'INGEST_MALFORMED'],
    ['bad base64', msg({ encoding: 'base64', content: '@@@', mediaType: 'text/plain', sourceRef: 'x' }), 'INGEST_MALFORMED'],
    ['empty content', msg({ encoding: 'utf8', content: '', mediaType: 'text/plain', sourceRef: 'x' }), 'INGEST_EMPTY'],
    ["another tenant's object", msg({ objectRef: 'other/abc', mediaType: 'text/plain', sourceRef: 'x' }), 'INGEST_MALFORMED'],
    ['path traversal', msg({ objectRef: 'acme/../other/abc', mediaType: 'text/plain', sourceRef: 'x' }), 'INGEST_MALFORMED'],
  ])('refuses %s', (_name, input, code) => {
    expect(codeOf(() => decodeInbound('acme', 'docs', input))).toBe(code);
  });
});
