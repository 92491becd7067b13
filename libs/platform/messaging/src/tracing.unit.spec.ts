import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ROOT_CONTEXT, context, propagation, trace } from '@opentelemetry/api';
import { extractTraceContext, injectTraceHeaders } from './tracing';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const spanId = '00f067aa0ba902b7';

describe('trace headers without a registered propagator', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.disable(); // no propagator: the W3C fallback must still carry the trace
  });
  afterAll(() => context.disable());

  it('writes a W3C traceparent from the active span context', () => {
    const headers: Record<string, string> = {};
    context.with(trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: 1 }), () => injectTraceHeaders(headers, '00-11111111111111111111111111111111-2222222222222222-01'));
    expect(headers).toEqual({ traceparent: `00-${traceId}-${spanId}-01` });
  });

  it("falls back to the envelope's traceparent with no active span, and ignores a malformed one", () => {
    const a: Record<string, string> = {};
    injectTraceHeaders(a, `00-${traceId}-${spanId}-00`);
    expect(a).toEqual({ traceparent: `00-${traceId}-${spanId}-00` });
    const b: Record<string, string> = {};
    injectTraceHeaders(b, 'not-a-traceparent');
    expect(b).toEqual({});
  });

  it('extracts the parent from the header, else from the envelope, else none', () => {
    expect(trace.getSpanContext(extractTraceContext({ traceparent: `00-${traceId}-${spanId}-01` }))).toMatchObject({ traceId, spanId, isRemote: true });
    expect(trace.getSpanContext(extractTraceContext({}, `00-${traceId}-${spanId}-01`))?.traceId).toBe(traceId);
    expect(trace.getSpanContext(extractTraceContext({ traceparent: `00-${'0'.repeat(32)}-${spanId}-01` }))).toBeUndefined();
    expect(trace.getSpanContext(extractTraceContext({}))).toBeUndefined();
  });
});
