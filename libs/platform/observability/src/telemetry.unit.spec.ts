import { context, propagation, trace } from '@opentelemetry/api';
import { eventually } from '@koa/platform/testing';
import { shutdownTelemetry, startTelemetry } from './telemetry';

// One file, one sequence: OpenTelemetry's globals can be registered once per process.
describe('startTelemetry', () => {
  afterAll(async () => {
    await shutdownTelemetry();
  });

  it('installs nothing when OTEL_SDK_DISABLED=true', () => {
    expect(startTelemetry('svc', { OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' })).toBe('disabled');
    const span = trace.getTracer('t').startSpan('op');
    expect(trace.isSpanContextValid(span.spanContext())).toBe(false);
    span.end();
  });

  it('starts the Node SDK when an exporter is configured, honouring OTEL_SERVICE_NAME, and is idempotent', async () => {
    const exported: string[] = [];
    const spy = jest.spyOn(console, 'dir').mockImplementation((obj: unknown) => {
      exported.push(JSON.stringify(obj));
    });
    try {
      // the SDK itself reads process.env
      Object.assign(process.env, { OTEL_TRACES_EXPORTER: 'console', OTEL_SERVICE_NAME: 'renamed', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' });
      expect(startTelemetry('svc')).toBe('sdk');
      expect(startTelemetry('other', {})).toBe('sdk');
      const span = trace.getTracer('t').startSpan('exported-op');
      expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
      const carrier: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), span), carrier);
      expect(carrier['traceparent']).toContain(span.spanContext().traceId);
      span.end();
      await shutdownTelemetry();
      // the console exporter writes just after shutdown resolves
      await eventually(() => exported.join('\n').includes('exported-op'), { what: 'span exported' });
      expect(exported.join('\n')).toContain('"service.name":"renamed"');
    } finally {
      spy.mockRestore();
      for (const k of ['OTEL_TRACES_EXPORTER', 'OTEL_SERVICE_NAME', 'OTEL_METRICS_EXPORTER', 'OTEL_LOGS_EXPORTER']) delete process.env[k];
    }
  });
});
