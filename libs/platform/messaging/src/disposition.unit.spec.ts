import fc from 'fast-check';
import { KoaRefusal, REFUSALS, type RefusalCode } from '@koa/contracts';
import { decideDisposition } from './disposition';

const policy = { maxDeliver: 4, backoffMs: [100, 1_000, 5_000] as const };

describe('decideDisposition', () => {
  it('dead-letters a non-retryable refusal at once with its code', () => {
    expect(decideDisposition(new KoaRefusal('EVENT_DATA_INVALID', 'data.outcome invalid'), 1, policy)).toEqual({
      action: 'dead-letter',
      code: 'EVENT_DATA_INVALID',
      message: 'data.outcome invalid',
    });
  });

  it('naks retryable refusals and unknown errors with the backoff of the attempt (1-based, last repeats)', () => {
    const transient = new KoaRefusal('DATABASE_UNAVAILABLE', 'db down');
    expect(decideDisposition(transient, 1, policy)).toEqual({ action: 'nak', delayMs: 100 });
    expect(decideDisposition(new Error('x'), 2, policy)).toEqual({ action: 'nak', delayMs: 1_000 });
    expect(decideDisposition('a string', 3, policy)).toEqual({ action: 'nak', delayMs: 5_000 });
    expect(decideDisposition(new Error('x'), 3, { maxDeliver: 10, backoffMs: [7] })).toEqual({ action: 'nak', delayMs: 7 });
    expect(decideDisposition(new Error('x'), 1, { maxDeliver: 10, backoffMs: [] })).toEqual({ action: 'nak', delayMs: 0 });
  });

  it('dead-letters MAX_DELIVER_EXCEEDED on the last allowed attempt, naming the last error', () => {
    const d = decideDisposition(new Error('boom'), 4, policy);
    expect(d).toMatchObject({ action: 'dead-letter', code: 'MAX_DELIVER_EXCEEDED' });
    expect(d.action === 'dead-letter' && d.message).toContain('boom');
  });

  it('property: never naks past maxDeliver, never dead-letters a retryable error early, delays come from the schedule', () => {
    const codes = Object.keys(REFUSALS) as RefusalCode[];
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(...codes).map((c) => new KoaRefusal(c, 'm') as unknown), fc.string().map((s) => new Error(s) as unknown)),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.integer({ min: 0, max: 60_000 }), { maxLength: 5 }),
        (error, deliveryCount, maxDeliver, backoffMs) => {
          const d = decideDisposition(error, deliveryCount, { maxDeliver, backoffMs });
          const permanent = error instanceof KoaRefusal && !error.retryable;
          if (permanent) return d.action === 'dead-letter' && d.code === error.code;
          if (deliveryCount >= maxDeliver) return d.action === 'dead-letter' && d.code === 'MAX_DELIVER_EXCEEDED';
          return d.action === 'nak' && (backoffMs.length === 0 ? d.delayMs === 0 : backoffMs.includes(d.delayMs));
        },
      ),
    );
  });
});
