import { KoaRefusal, isKoaRefusal } from '@koa/contracts';
import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream';
import { ClosedConnectionError, ConnectionError, DrainingConnectionError, NoRespondersError, RequestError, TimeoutError } from '@nats-io/nats-core';

/**
 * An append lost an optimistic-concurrency race: the aggregate subject's last sequence was not
 * the one the caller decided on. Reload the aggregate (`readAggregate`) and decide again.
 * A `KoaRefusal` with code `CONCURRENCY_CONFLICT` (retryable), carrying `subject` and `expected`
 * (and `actual` when the server reported it) in `details` and as properties.
 */
export class ConcurrencyConflict extends KoaRefusal {
  constructor(
    readonly subject: string,
    readonly expected: number,
    readonly actual?: number,
    options?: { cause?: unknown },
  ) {
    super(
      'CONCURRENCY_CONFLICT',
      `append to ${subject} expected last subject sequence ${expected}${actual !== undefined ? ` but it is ${actual}` : ''}`,
      { subject, expected, ...(actual !== undefined && { actual }) },
      options,
    );
  }
}

/** JetStream API error code for a failed `Nats-Expected-Last-Subject-Sequence` check. */
const WRONG_LAST_SEQUENCE = 10071;

export const isWrongLastSequence = (e: unknown): e is JetStreamApiError =>
  e instanceof JetStreamApiError && e.code === WRONG_LAST_SEQUENCE;

/** `wrong last sequence: 7` → 7 */
export const actualSequenceOf = (e: JetStreamApiError): number | undefined => {
  const m = /wrong last sequence: (\d+)/i.exec(e.message);
  return m ? Number(m[1]) : undefined;
};

/** Removes user:password from a URL before it goes into a message. */
export const redactUrl = (url: string): string => url.replace(/\/\/[^@/]*@/, '//***@');

/**
 * Translates an infrastructure error, once, at the edge: connection loss, timeouts and missing
 * responders become `BROKER_UNAVAILABLE` (retryable); refusals pass through unchanged; anything
 * else (a JetStream API error the caller did not expect) becomes `INTERNAL` with the cause kept.
 */
export function translateBrokerError(e: unknown, what: string): KoaRefusal {
  if (isKoaRefusal(e)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const unavailable =
    e instanceof TimeoutError ||
    e instanceof NoRespondersError ||
    e instanceof ConnectionError ||
    e instanceof ClosedConnectionError ||
    e instanceof DrainingConnectionError ||
    e instanceof RequestError ||
    // no JetStream responder: the server is (re)starting or its JetStream is not up
    (e instanceof Error && e.name === 'JetStreamNotEnabled') ||
    (e instanceof JetStreamError && !(e instanceof JetStreamApiError));
  if (unavailable) return new KoaRefusal('BROKER_UNAVAILABLE', `${what}: ${msg}`, {}, { cause: e });
  if (e instanceof JetStreamApiError) {
    return new KoaRefusal('INTERNAL', `${what}: JetStream refused (${e.code}): ${msg}`, { jsCode: e.code }, { cause: e });
  }
  return new KoaRefusal('INTERNAL', `${what}: ${msg}`, {}, { cause: e });
}
