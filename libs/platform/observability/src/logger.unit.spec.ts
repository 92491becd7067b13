import { Writable } from 'node:stream';
import { context, propagation, trace } from '@opentelemetry/api';
import { KoaRefusal } from '@koa/contracts';
import { createLogger } from './logger';
import { shutdownTelemetry, startTelemetry } from './telemetry';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

describe('KoaLogger', () => {
  it('writes one JSON line per entry with time, level, service, msg and context', () => {
    const out = capture();
    const logger = createLogger('orgo-control', { level: 'info', destination: out.stream });
    logger.log('case opened', 'CaseService');
    const [line] = out.lines();
    expect(line).toMatchObject({ level: 'info', service: 'orgo-control', msg: 'case opened', context: 'CaseService' });
    expect(new Date(line['time'] as string).toISOString()).toBe(line['time']);
  });

  it('carries structured fields passed as the message or as a parameter', () => {
    const out = capture();
    const logger = createLogger('audit-ledger', { level: 'debug', destination: out.stream });
    logger.warn({ msg: 'release refused', tenant: 'acme', releaseId: 'r-1', code: 'NOTICE_EXPIRED' }, 'Verifier');
    logger.debug('build started', { tenant: 'acme', buildId: 'b-7', caseId: 'c-2' }, 'Pipeline');
    const [a, b] = out.lines();
    expect(a).toMatchObject({ level: 'warn', msg: 'release refused', tenant: 'acme', releaseId: 'r-1', code: 'NOTICE_EXPIRED', context: 'Verifier' });
    expect(b).toMatchObject({ level: 'debug', msg: 'build started', tenant: 'acme', buildId: 'b-7', caseId: 'c-2', context: 'Pipeline' });
  });

  it('logs an error with its code, and a Nest-style (message, stack, context) call', () => {
    const out = capture();
    const logger = createLogger('x', { destination: out.stream });
    logger.error('append failed', new KoaRefusal('CONCURRENCY_CONFLICT', 'someone wrote first'), 'Writer');
    logger.error('boom', 'Error: boom\n    at foo (a.ts:1:1)', 'ExceptionsHandler');
    const [a, b] = out.lines();
    expect(a).toMatchObject({ level: 'error', msg: 'append failed', code: 'CONCURRENCY_CONFLICT', context: 'Writer' });
    expect((a['err'] as Record<string, unknown>)['type']).toBe('KoaRefusal');
    expect(b).toMatchObject({ msg: 'boom', context: 'ExceptionsHandler' });
    expect(String(b['stack'])).toContain('at foo');
  });

  it('honours LOG_LEVEL and maps Nest levels (verbose ⇒ trace, log ⇒ info)', () => {
    const out = capture();
    const logger = createLogger('x', { level: 'warn', destination: out.stream });
    logger.log('hidden');
    logger.verbose('hidden too');
    logger.fatal('shown');
    expect(out.lines().map((l) => [l['level'], l['msg']])).toEqual([['fatal', 'shown']]);
  });

  it('adds trace_id and span_id of the active span, and propagation-only telemetry mints them', async () => {
    expect(startTelemetry('svc', {})).toBe('propagation-only');
    try {
      const out = capture();
      const logger = createLogger('svc', { destination: out.stream });
      const span = trace.getTracer('test').startSpan('op');
      context.with(trace.setSpan(context.active(), span), () => logger.log('inside'));
      span.end();
      logger.log('outside');
      const [inside, outside] = out.lines();
      expect(inside['trace_id']).toBe(span.spanContext().traceId);
      expect(inside['span_id']).toBe(span.spanContext().spanId);
      expect(inside['trace_id']).toMatch(/^[0-9a-f]{32}$/);
      expect(outside['trace_id']).toBeUndefined();
      // W3C propagation is installed: a traceparent is injected into carrier headers
      const carrier: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), span), carrier);
      expect(carrier['traceparent']).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
    } finally {
      await shutdownTelemetry();
    }
  });
});
