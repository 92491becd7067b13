import { CaseClosed, createEvent, isValidatedEvent, parseEvent, TaskCompleted } from '@koa/contracts';

const closed = (n: number) =>
  createEvent(CaseClosed, { id: `evt-${n}`, time: '2026-01-01T00:00:00.000Z', source: 'orgo-control', tenant: 'acme', aggregateId: 'case-1', actor: 'service:orgo-control', data: { caseId: 'case-1', outcome: 'succeeded' } });

describe('the validated-event brand (createEvent ⇒ isValidatedEvent)', () => {
  it('brands what createEvent returns, deep-frozen so it cannot change after validation', () => {
    const e = closed(1);
    expect(isValidatedEvent(e)).toBe(true);
    expect(Object.isFrozen(e)).toBe(true);
    expect(Object.isFrozen(e.data)).toBe(true);
    expect(() => {
      (e.data as { outcome: string }).outcome = 'maybe';
    }).toThrow(TypeError);
    expect(() => {
      (e as { extra?: number }).extra = 1;
    }).toThrow(TypeError);
  });

  it('freezes nested arrays and objects, but never the caller’s own input objects', () => {
    const data = { caseId: 'case-1', taskId: 't-1', kind: 'build' as const, outcome: 'succeeded' as const };
    const e = createEvent(TaskCompleted, { id: 'evt-2', time: '2026-01-01T00:00:00.000Z', source: 'orgo-control', tenant: 'acme', aggregateId: 'case-1', actor: 'service:orgo-control', data });
    expect(isValidatedEvent(e)).toBe(true);
    expect(Object.isFrozen(data)).toBe(false);
    data.taskId = 't-2'; // the caller's object is still its own
    expect(e.data.taskId).toBe('t-1');
  });

  it('does not brand copies, parsed JSON, hand-built objects, proxies, parseEvent results or non-objects', () => {
    const e = closed(3);
    expect(isValidatedEvent({ ...e })).toBe(false);
    expect(isValidatedEvent(JSON.parse(JSON.stringify(e)))).toBe(false);
    expect(isValidatedEvent(new Proxy(e, {}))).toBe(false);
    expect(isValidatedEvent(parseEvent(JSON.stringify(e)))).toBe(false);
    expect(isValidatedEvent(Object.freeze({ ...e }))).toBe(false);
    for (const v of [undefined, null, 'evt-3', 3]) expect(isValidatedEvent(v)).toBe(false);
  });
});
