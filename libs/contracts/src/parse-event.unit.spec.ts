import { createEvent, KoaRefusal, parseEvent, SnapshotCaptured, TaskRequested, type RefusalCode } from '@koa/contracts';
import { D1, D3, SAMPLES, T0 } from './__fixtures__/samples';

function sample<T extends keyof typeof SAMPLES>(type: T): NonNullable<(typeof SAMPLES)[T]> {
  const s = SAMPLES[type];
  if (!s) throw new Error(`no sample for ${type}`);
  return s as NonNullable<(typeof SAMPLES)[T]>;
}

/** Runs `fn`, expects a KoaRefusal with `code`, returns it for further assertions. */
function refusal(code: RefusalCode, fn: () => unknown): KoaRefusal {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KoaRefusal);
    expect((e as KoaRefusal).code).toBe(code);
    return e as KoaRefusal;
  }
  throw new Error(`expected a refusal ${code}, got none`);
}

const captured = () =>
  createEvent(SnapshotCaptured, {
    id: 'evt-1',
    time: T0,
    source: 'ingest-gateway',
    tenant: 'acme',
    actor: 'user:alice',
    ...sample('io.koa.ingest.snapshot.captured.v1'),
  });
const plain = (): Record<string, unknown> => JSON.parse(JSON.stringify(captured()));
const natsSubject = `koa.evt.acme.snapshot.${D1.slice(7)}`;

describe('parseEvent', () => {
  it('accepts a valid envelope from bytes, string and object alike', () => {
    const text = JSON.stringify(captured());
    expect(parseEvent(text, natsSubject)).toEqual(captured());
    expect(parseEvent(Buffer.from(text), natsSubject)).toEqual(captured());
    expect(parseEvent(JSON.parse(text))).toEqual(captured());
  });

  it('reads a Uint8Array view at its offset (not the whole underlying buffer)', () => {
    const text = JSON.stringify(captured());
    const big = Buffer.from(`xxxx${text}yyyy`);
    const view = new Uint8Array(big.buffer, big.byteOffset + 4, Buffer.byteLength(text));
    expect(parseEvent(view).id).toBe('evt-1');
  });

  it('refuses bytes that are not JSON with ENVELOPE_MALFORMED', () => {
    const r = refusal('ENVELOPE_MALFORMED', () => parseEvent(Buffer.from('{not json')));
    expect(r.message).toContain('not valid JSON');
    expect(r.cause).toBeInstanceOf(SyntaxError);
    refusal('ENVELOPE_MALFORMED', () => parseEvent(''));
  });

  it.each(['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'tenantid', 'actor'])(
    'refuses an envelope without %s with ENVELOPE_MALFORMED naming the field',
    (field) => {
      const e = plain();
      delete e[field];
      const r = refusal('ENVELOPE_MALFORMED', () => parseEvent(JSON.stringify(e)));
      expect(r.message).toContain(field);
    },
  );

  it('refuses non-object JSON, unknown envelope attributes and a wrong specversion', () => {
    refusal('ENVELOPE_MALFORMED', () => parseEvent('42'));
    refusal('ENVELOPE_MALFORMED', () => parseEvent('null'));
    expect(refusal('ENVELOPE_MALFORMED', () => parseEvent({ ...plain(), sneaky: true })).message).toMatch(/sneaky|unrecognized/i);
    expect(refusal('ENVELOPE_MALFORMED', () => parseEvent({ ...plain(), specversion: '0.3' })).message).toContain('specversion');
    expect(refusal('ENVELOPE_MALFORMED', () => parseEvent({ ...plain(), tenantid: 'ac.me' })).message).toContain('tenantid');
    expect(refusal('ENVELOPE_MALFORMED', () => parseEvent({ ...plain(), time: 'yesterday' })).message).toContain('time');
  });

  it('refuses a type that is not in the catalog with EVENT_TYPE_UNKNOWN', () => {
    const r = refusal('EVENT_TYPE_UNKNOWN', () => parseEvent({ ...plain(), type: 'io.koa.ingest.snapshot.captured.v99' }));
    expect(r.message).toContain('io.koa.ingest.snapshot.captured.v99');
    expect(r.details).toEqual({ type: 'io.koa.ingest.snapshot.captured.v99' });
  });

  it('refuses data that fails its schema with EVENT_DATA_INVALID naming the nested field', () => {
    const e = plain();
    const data = e['data'] as { provenance: { capturedAt: string } };
    data.provenance.capturedAt = 'not a time';
    const r = refusal('EVENT_DATA_INVALID', () => parseEvent(e));
    expect(r.message).toContain('provenance.capturedAt');
    expect(r.details['issues']).toEqual(['provenance.capturedAt']);
  });

  it('refuses a missing data field and a wrong discriminator with EVENT_DATA_INVALID', () => {
    const e = plain();
    delete (e['data'] as Record<string, unknown>)['digest'];
    expect(refusal('EVENT_DATA_INVALID', () => parseEvent(e)).message).toContain('digest');
    const task = JSON.parse(
      JSON.stringify(
        createEvent(TaskRequested, { id: 'evt-2', time: T0, source: 'orgo-control', tenant: 'acme', actor: 'service:orgo-control', ...sample('io.koa.orgo.task.requested.v1') }),
      ),
    );
    task.data.params = { kind: 'deploy', snapshotSetRoot: D3, digests: [D1] };
    expect(refusal('EVENT_DATA_INVALID', () => parseEvent(task)).message).toContain('params.kind');
  });

  it('refuses an envelope subject of another aggregate kind with EVENT_SUBJECT_MISMATCH', () => {
    refusal('EVENT_SUBJECT_MISMATCH', () => parseEvent({ ...plain(), subject: 'case/case-1' }));
  });

  it('refuses when the NATS subject disagrees with the envelope (tenant, aggregate, id, shape)', () => {
    const text = JSON.stringify(captured());
    const hex = D1.slice(7);
    for (const subject of [`koa.evt.other.snapshot.${hex}`, `koa.evt.acme.case.${hex}`, 'koa.evt.acme.snapshot.other-id', `koa.ingest.acme.snapshot`, `koa.evt.acme.snapshot.${hex}.extra`]) {
      const r = refusal('EVENT_SUBJECT_MISMATCH', () => parseEvent(text, subject));
      expect(r.details).toEqual({ natsSubject: subject });
    }
  });
});

describe('createEvent', () => {
  const base = { id: 'evt-3', time: T0, source: 'ingest-gateway', tenant: 'acme', actor: 'user:alice', ...sample('io.koa.ingest.snapshot.captured.v1') };

  it('sets only the optional extensions it is given', () => {
    const e = createEvent(SnapshotCaptured, base);
    expect(Object.keys(e).sort()).toEqual(['actor', 'data', 'datacontenttype', 'id', 'source', 'specversion', 'subject', 'tenantid', 'time', 'type']);
    const withAll = createEvent(SnapshotCaptured, { ...base, correlationId: 'case-1', causationId: 'evt-2', reason: 'manual upload' });
    expect(withAll).toMatchObject({ correlationid: 'case-1', causationid: 'evt-2', reason: 'manual upload' });
  });

  it('refuses invalid data and an invalid envelope input with their codes', () => {
    expect(refusal('EVENT_DATA_INVALID', () => createEvent(SnapshotCaptured, { ...base, data: { ...base.data, size: 0 } })).message).toContain('size');
    expect(refusal('ENVELOPE_MALFORMED', () => createEvent(SnapshotCaptured, { ...base, tenant: 'a*' })).message).toContain('tenantid');
    expect(refusal('ENVELOPE_MALFORMED', () => createEvent(SnapshotCaptured, { ...base, actor: 'alice' })).message).toContain('actor');
    expect(refusal('ENVELOPE_MALFORMED', () => createEvent(SnapshotCaptured, { ...base, aggregateId: 'a.b' })).message).toContain('subject');
  });
});
