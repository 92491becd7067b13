import { DEAD_LETTER_HEADERS, deadLetterMsgId, NATS_HEADERS } from '@koa/contracts';

describe('wire headers', () => {
  it('names the NATS and dead-letter headers exactly as documented', () => {
    expect(NATS_HEADERS.msgId).toBe('Nats-Msg-Id');
    expect(NATS_HEADERS.expectedLastSubjectSequence).toBe('Nats-Expected-Last-Subject-Sequence');
    expect(Object.values(DEAD_LETTER_HEADERS)).toEqual(['Koa-Refusal-Code', 'Koa-Refusal-Message', 'Koa-Consumer', 'Koa-Original-Subject', 'Koa-Original-Stream', 'Koa-Original-Seq', 'Koa-Delivery-Count']);
  });
  it('builds one dead-letter id per consumer and original sequence', () => {
    expect(deadLetterMsgId('audit-ledger', 42)).toBe('dlq:audit-ledger:42');
  });
});
