import { ROOT_CONTEXT, context, propagation, trace, type Context, type TextMapGetter } from '@opentelemetry/api';

const TRACEPARENT = 'traceparent';
const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Writes the active trace context into outgoing NATS headers: whatever the registered OTel
 * propagator writes (W3C `traceparent`/`tracestate`, baggage, ...), and — when no propagator is
 * registered but a span is active — a W3C `traceparent` derived from the active span context.
 * Falls back to `fallbackTraceparent` (the envelope's own `traceparent`) if there is no active span.
 */
export function injectTraceHeaders(target: Record<string, string>, fallbackTraceparent?: string): void {
  const active = context.active();
  propagation.inject(active, target);
  if (!target[TRACEPARENT]) {
    const sc = trace.getSpanContext(active);
    if (sc && trace.isSpanContextValid(sc)) {
      target[TRACEPARENT] = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
    } else if (fallbackTraceparent && TRACEPARENT_PATTERN.test(fallbackTraceparent)) {
      target[TRACEPARENT] = fallbackTraceparent;
    }
  }
}

const recordGetter: TextMapGetter<Record<string, string>> = {
  keys: (c) => Object.keys(c),
  get: (c, k) => c[k] ?? c[k.toLowerCase()],
};

/**
 * The parent context for a delivery: extracted from the message headers with the registered
 * propagator; without one, from a W3C `traceparent` header or the envelope's `traceparent`.
 */
export function extractTraceContext(headers: Record<string, string>, envelopeTraceparent?: string): Context {
  const extracted = propagation.extract(ROOT_CONTEXT, headers, recordGetter);
  if (trace.getSpanContext(extracted)) return extracted;
  const tp = headers[TRACEPARENT] ?? envelopeTraceparent;
  const m = tp ? /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(tp) : null;
  if (!m) return ROOT_CONTEXT;
  const sc = { traceId: m[2], spanId: m[3], traceFlags: parseInt(m[4], 16), isRemote: true };
  return trace.isSpanContextValid(sc) ? trace.setSpanContext(ROOT_CONTEXT, sc) : ROOT_CONTEXT;
}

export const tracer = () => trace.getTracer('@koa/platform/messaging');
