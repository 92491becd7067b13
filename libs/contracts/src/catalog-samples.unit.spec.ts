import { createEvent, dedupKey, EVENT_CATALOG, eventDefinition, parseEvent, subjectOf, type CatalogEntry, type NewEvent } from '@koa/contracts';
import { SAMPLES } from './__fixtures__/samples';

const META = {
  id: 'evt-0001',
  time: '2026-01-01T00:00:00.000Z',
  tenant: 'acme',
  actor: 'service:test',
  correlationId: 'case-1',
  causationId: 'evt-0000',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
} as const;

const build = (def: CatalogEntry) => {
  const sample = SAMPLES[def.type];
  if (!sample) throw new Error(`no sample for ${def.type}: add one to libs/contracts/src/__fixtures__/samples.ts`);
  return createEvent(def, { ...META, source: def.producer, ...sample } as NewEvent<CatalogEntry>);
};

describe('every catalog type', () => {
  it('has a sample (add one to __fixtures__/samples.ts when adding a type)', () => {
    const missing = EVENT_CATALOG.map((d) => d.type).filter((t) => !SAMPLES[t]);
    expect(missing).toEqual([]);
  });

  it('has a unique type, a versioned past-tense name and a known definition', () => {
    const types = EVENT_CATALOG.map((d) => d.type);
    expect(new Set(types).size).toBe(types.length);
    for (const def of EVENT_CATALOG) {
      expect(def.type).toMatch(/^io\.koa\.[a-z]+(\.[a-z-]+)+\.v[0-9]+$/);
      expect(def.summary.length).toBeGreaterThan(10);
      expect(eventDefinition(def.type)).toBe(def);
    }
  });

  it.each(EVENT_CATALOG.map((d) => [d.type, d] as const))('%s round-trips createEvent -> bytes -> parseEvent', (_type, def) => {
    const event = build(def);
    expect(event.type).toBe(def.type);
    expect(event.source).toBe(`/koa/${def.producer}`);
    expect(event.subject).toBe(`${def.aggregate}/${SAMPLES[def.type]?.aggregateId}`);
    const natsSubject = subjectOf(event);
    expect(natsSubject).toBe(`koa.evt.acme.${def.aggregate}.${SAMPLES[def.type]?.aggregateId}`);
    const bytes = new TextEncoder().encode(JSON.stringify(event));
    const again = parseEvent(bytes, natsSubject);
    expect(again).toEqual(event);
    expect(Object.isFrozen(again)).toBe(true);
    expect(dedupKey(again)).toBe(`/koa/${def.producer}#evt-0001`);
  });
});
