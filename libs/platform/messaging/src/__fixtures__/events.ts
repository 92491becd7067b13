import { CaseClosed, createEvent, type EventOf } from '@koa/contracts';

/** A valid `CaseClosed` event on `koa.evt.<tenant>.case.<caseId>`; `n` makes the id unique. */
export function caseClosed(tenant: string, caseId: string, n: number, o: { source?: string; traceparent?: string } = {}): EventOf<typeof CaseClosed> {
  return createEvent(CaseClosed, {
    id: `evt-${tenant}-${caseId}-${n}`,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, n % 60)).toISOString(),
    source: o.source ?? 'orgo-control',
    tenant,
    aggregateId: caseId,
    actor: 'service:orgo-control',
    data: { caseId, outcome: 'succeeded' },
    ...(o.traceparent && { traceparent: o.traceparent }),
  });
}
