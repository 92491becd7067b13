import { NodeSDK, node, resources } from '@opentelemetry/sdk-node';

let active: { shutdown(): Promise<void> } | undefined;

/** How {@link startTelemetry} configured the process. */
export type TelemetryMode = 'sdk' | 'propagation-only' | 'disabled';

/**
 * Starts OpenTelemetry for this process, configured ONLY by the standard `OTEL_*` variables:
 *
 * - `OTEL_SDK_DISABLED=true`: nothing is installed (`'disabled'`).
 * - `OTEL_TRACES_EXPORTER` unset or `none`: no exporter. A tracer provider without span processors
 *   plus the W3C trace-context/baggage propagators and the async-local-storage context manager are
 *   installed, so trace ids are minted, flow through NATS headers (`traceparent`) and appear in
 *   logs, but nothing is exported (`'propagation-only'`).
 * - otherwise: the OpenTelemetry Node SDK (`'sdk'`), which reads `OTEL_TRACES_EXPORTER`,
 *   `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_METRICS_EXPORTER`, `OTEL_RESOURCE_ATTRIBUTES`, … itself.
 *
 * `service.name` is `OTEL_SERVICE_NAME` when set, else `serviceName`. Idempotent: a second call
 * returns the mode of the first without installing anything. `env` decides the mode (tests pass
 * their own); in `'sdk'` mode the SDK itself reads `process.env`.
 */
export function startTelemetry(serviceName: string, env: Readonly<Record<string, string | undefined>> = process.env): TelemetryMode {
  if (active) return currentMode;
  if ((env['OTEL_SDK_DISABLED'] ?? '').toLowerCase() === 'true') {
    currentMode = 'disabled';
    return currentMode;
  }
  const name = env['OTEL_SERVICE_NAME'] || serviceName;
  const exporters = (env['OTEL_TRACES_EXPORTER'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (exporters.length === 0 || exporters.every((e) => e === 'none')) {
    const provider = new node.NodeTracerProvider({ resource: resources.resourceFromAttributes({ 'service.name': name }) });
    provider.register();
    active = provider;
    currentMode = 'propagation-only';
    return currentMode;
  }
  const sdk = new NodeSDK(env['OTEL_SERVICE_NAME'] ? {} : { serviceName: name });
  sdk.start();
  active = sdk;
  currentMode = 'sdk';
  return currentMode;
}

let currentMode: TelemetryMode = 'disabled';

/** Flushes and stops what {@link startTelemetry} installed (safe to call when nothing was started). */
export async function shutdownTelemetry(): Promise<void> {
  const a = active;
  active = undefined;
  if (a) await a.shutdown();
}
