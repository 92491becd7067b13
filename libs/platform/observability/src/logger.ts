import pino, { type DestinationStream, type Level, type Logger as PinoLogger } from 'pino';
import { trace } from '@opentelemetry/api';

/** Nest's log levels (the `LoggerService` method names). */
export type NestLogLevel = 'log' | 'error' | 'warn' | 'debug' | 'verbose' | 'fatal';

/** `LOG_LEVEL` values: pino's names, plus `silent`. */
export type KoaLogLevel = Level | 'silent';

const NEST_TO_PINO: Record<NestLogLevel, Level> = { fatal: 'fatal', error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };
const PINO_ORDER: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const STACK_LINE = /\n\s+at /;

export interface CreateLoggerOptions {
  /** `LOG_LEVEL` (default: `process.env.LOG_LEVEL`, else `info`). */
  readonly level?: string;
  /** Extra fields on every line (e.g. `{ instance: 'pod-1' }`). */
  readonly base?: Readonly<Record<string, unknown>>;
  /** Where lines go (default: stdout, synchronously, so nothing is lost on `process.exit`). */
  readonly destination?: DestinationStream;
}

/** Structured fields conventionally carried by log lines. Any other JSON-safe field is allowed. */
export interface LogFields {
  readonly tenant?: string;
  readonly caseId?: string;
  readonly buildId?: string;
  readonly releaseId?: string;
  readonly code?: string;
  readonly [field: string]: unknown;
}

/**
 * A JSON-lines logger that implements Nest's `LoggerService` (structurally: this lib is a util and
 * does not import Nest). One line per entry:
 *
 * ```json
 * {"level":"info","time":"2026-01-01T00:00:00.000Z","service":"orgo-control","context":"CaseService",
 *  "trace_id":"4bf9…","span_id":"00f0…","tenant":"acme","caseId":"c-1","msg":"case opened"}
 * ```
 *
 * - `time` is ISO-8601, `level` is a name (`trace`…`fatal`), `service` is fixed per process.
 * - `trace_id`/`span_id` come from the active OpenTelemetry span, when there is one.
 * - Structured fields: pass an object as the message (`{ msg, tenant, … }`) or as an extra
 *   parameter (`logger.log('case opened', { tenant, caseId }, 'CaseService')`); with Nest's
 *   `Logger`: `new Logger('CaseService').log('case opened', { tenant })`.
 * - An `Error` (or a `KoaRefusal`) among the parameters is logged as `err` with its `code`.
 */
export class KoaLogger {
  /** The underlying pino logger, for code that wants pino's own API. */
  readonly pino: PinoLogger;

  constructor(readonly service: string, options: CreateLoggerOptions = {}) {
    const level = normalizeLevel(options.level ?? process.env['LOG_LEVEL']);
    this.pino = pino(
      {
        level,
        messageKey: 'msg',
        base: { service, pid: process.pid, ...(options.base ?? {}) },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        mixin() {
          const ctx = trace.getActiveSpan()?.spanContext();
          return ctx && trace.isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
        },
      },
      options.destination ?? pino.destination({ dest: 1, sync: true }),
    );
  }

  log(message: unknown, ...optionalParams: unknown[]): void {
    this.write('log', message, optionalParams);
  }
  error(message: unknown, ...optionalParams: unknown[]): void {
    this.write('error', message, optionalParams);
  }
  warn(message: unknown, ...optionalParams: unknown[]): void {
    this.write('warn', message, optionalParams);
  }
  debug(message: unknown, ...optionalParams: unknown[]): void {
    this.write('debug', message, optionalParams);
  }
  verbose(message: unknown, ...optionalParams: unknown[]): void {
    this.write('verbose', message, optionalParams);
  }
  fatal(message: unknown, ...optionalParams: unknown[]): void {
    this.write('fatal', message, optionalParams);
  }

  /** Nest calls this with the levels it wants; `LOG_LEVEL` stays authoritative unless it asks for less. */
  setLogLevels(levels: NestLogLevel[]): void {
    const wanted = levels.map((l) => NEST_TO_PINO[l]).filter(Boolean);
    if (wanted.length === 0) {
      this.pino.level = 'silent';
      return;
    }
    const lowest = PINO_ORDER.find((l) => wanted.includes(l));
    if (lowest && PINO_ORDER.indexOf(lowest) > PINO_ORDER.indexOf(this.pino.level as Level)) this.pino.level = lowest;
  }

  /** A logger bound to a context and fields, for code outside Nest's DI. */
  child(context: string, fields: LogFields = {}): KoaLogger {
    const child = Object.create(KoaLogger.prototype) as KoaLogger;
    Object.assign(child, { service: this.service, pino: this.pino.child({ context, ...fields }) });
    return child;
  }

  private write(nestLevel: NestLogLevel, message: unknown, params: unknown[]): void {
    const level = NEST_TO_PINO[nestLevel];
    if (!this.pino.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    let msg: string | undefined;
    const rest = [...params];
    // Nest appends the context as the last string parameter.
    if (rest.length > 0 && typeof rest[rest.length - 1] === 'string' && !STACK_LINE.test(rest[rest.length - 1] as string)) {
      fields['context'] = rest.pop();
    }
    const absorb = (value: unknown): void => {
      if (value === undefined) return;
      if (value instanceof Error) {
        fields['err'] = value; // pino's err serializer: type, message, stack, code, details, cause
        const code = (value as { code?: unknown }).code;
        if (typeof code === 'string' && fields['code'] === undefined) fields['code'] = code;
        if (msg === undefined) msg = value.message;
      } else if (typeof value === 'string') {
        if (STACK_LINE.test(value)) fields['stack'] = value;
        else if (msg === undefined) msg = value;
        else fields['detail'] = value;
      } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        const { msg: m, message: mm, ...others } = value as Record<string, unknown>;
        if (msg === undefined && typeof (m ?? mm) === 'string') msg = (m ?? mm) as string;
        Object.assign(fields, others);
      } else {
        if (msg === undefined) msg = String(value);
      }
    };
    absorb(message);
    for (const p of rest) absorb(p);
    this.pino[level](fields, msg ?? '');
  }
}

function normalizeLevel(value: string | undefined): KoaLogLevel {
  const v = (value ?? 'info').toLowerCase();
  return (['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const).find((l) => l === v) ?? 'info';
}

/** A logger for `service` (see {@link KoaLogger}); pass it to `NestFactory.create(..., { logger })`. */
export function createLogger(service: string, options: CreateLoggerOptions = {}): KoaLogger {
  return new KoaLogger(service, options);
}
