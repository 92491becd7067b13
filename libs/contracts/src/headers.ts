/**
 * NATS message headers that are part of the wire contract (docs/asyncapi.yaml documents them per
 * message). Header names are case-sensitive on the wire; use these constants, never literals.
 */
export const NATS_HEADERS = {
  /** JetStream de-duplication id. For events: `dedupKey(event)` = `<source>#<id>`. */
  msgId: 'Nats-Msg-Id',
  /** Optimistic concurrency on an aggregate subject: the publish fails unless the last sequence matches. */
  expectedLastSubjectSequence: 'Nats-Expected-Last-Subject-Sequence',
  /** W3C trace context, propagated across every hop. */
  traceparent: 'traceparent',
  tracestate: 'tracestate',
} as const;

/**
 * Headers of a dead-letter record on `koa.dlq.<consumer>` (stream KOA_DLQ). The record's body is
 * the ORIGINAL message bytes, unchanged; these headers say why and where it came from.
 */
export const DEAD_LETTER_HEADERS = {
  /** the refusal code (catalog `REFUSALS`) that made the consumer give up */
  code: 'Koa-Refusal-Code',
  /** the refusal message, naming the failing field or value */
  message: 'Koa-Refusal-Message',
  /** the durable consumer name */
  consumer: 'Koa-Consumer',
  /** the NATS subject the original message was stored on */
  originalSubject: 'Koa-Original-Subject',
  /** the stream the original message was stored in */
  originalStream: 'Koa-Original-Stream',
  /** the original message's stream sequence (decimal) */
  originalSeq: 'Koa-Original-Seq',
  /** how many times the message had been delivered (decimal) */
  deliveryCount: 'Koa-Delivery-Count',
} as const;

/** The Nats-Msg-Id of a dead-letter record: `dlq:<durable>:<original stream seq>` (one record per message). */
export const deadLetterMsgId = (durable: string, originalSeq: number): string => `dlq:${durable}:${originalSeq}`;
