import { isKoaRefusal, isRefusalCode, KoaRefusal, REFUSALS } from '@koa/contracts';

describe('refusal catalog', () => {
  const entries = Object.entries(REFUSALS);

  it('has UPPER_SNAKE codes with a 4xx/5xx status, a boolean retryable and a sentence of description', () => {
    expect(entries.length).toBeGreaterThan(20);
    for (const [code, r] of entries) {
      expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      expect(r.http).toBeGreaterThanOrEqual(400);
      expect(r.http).toBeLessThan(600);
      expect(typeof r.retryable).toBe('boolean');
      expect(r.description.trim().length).toBeGreaterThan(10);
      expect(r.description).toMatch(/[.)]$/);
    }
  });

  it('marks only transient conditions retryable: a retryable 4xx is a timing status (conflict, rate limit, ...)', () => {
    for (const [code, r] of entries) {
      if (r.retryable && r.http < 500) expect([408, 409, 423, 425, 429]).toContain(r.http); // e.g. CONCURRENCY_CONFLICT
      if (code.endsWith('_UNAVAILABLE')) expect(r.retryable).toBe(true);
    }
  });

  it('isRefusalCode recognises catalog codes only (no prototype keys)', () => {
    expect(isRefusalCode('SUBJECT_TOKEN_INVALID')).toBe(true);
    expect(isRefusalCode('NOPE')).toBe(false);
    expect(isRefusalCode('toString')).toBe(false);
    expect(isRefusalCode(42)).toBe(false);
  });
});

describe('KoaRefusal', () => {
  it('carries code, status, retryable, details and cause, and serialises without the stack', () => {
    const cause = new Error('socket closed');
    const r = new KoaRefusal('BROKER_UNAVAILABLE', 'NATS did not answer within 5000 ms', { url: 'nats://127.0.0.1:4222' }, { cause });
    expect(r).toBeInstanceOf(Error);
    expect(isKoaRefusal(r)).toBe(true);
    expect(r.name).toBe('KoaRefusal');
    expect(r.code).toBe('BROKER_UNAVAILABLE');
    expect(r.httpStatus).toBe(503);
    expect(r.retryable).toBe(true);
    expect(r.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(r))).toEqual({ code: 'BROKER_UNAVAILABLE', message: 'NATS did not answer within 5000 ms', details: { url: 'nats://127.0.0.1:4222' } });
    const plain = new KoaRefusal('EVENT_DATA_INVALID', 'x');
    expect(plain.retryable).toBe(false);
    expect(plain.httpStatus).toBe(400);
    expect(plain.details).toEqual({});
    expect(isKoaRefusal(new Error('x'))).toBe(false);
  });
});
