import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { trace } from '@opentelemetry/api';
import { throwError, type Observable } from 'rxjs';
import { REFUSALS, isKoaRefusal, type RefusalCode } from '@koa/contracts';

/** Base of the `type` URI of every problem: `https://koa.dev/problems/<CODE>`. */
export const PROBLEM_TYPE_BASE = 'https://koa.dev/problems/';

/** An RFC 7807 / RFC 9457 problem document as kOA services return it (`application/problem+json`). */
export interface ProblemDocument {
  /** `https://koa.dev/problems/<CODE>` */
  readonly type: string;
  /** The catalog description of the code (the same for every occurrence). */
  readonly title: string;
  /** HTTP status (`REFUSALS[code].http` for refusals). */
  readonly status: number;
  /** What was wrong in this occurrence, naming the field or value. */
  readonly detail: string;
  /** The refusal code (catalog, stable). */
  readonly code: RefusalCode;
  /** The request path. */
  readonly instance: string;
  /** Structured details of a refusal, when it has any. */
  readonly details?: Readonly<Record<string, unknown>>;
  /** The trace id of the request, when tracing is active (for INTERNAL: find the log line). */
  readonly traceId?: string;
}

interface HttpResponseLike {
  status(code: number): HttpResponseLike;
  setHeader(name: string, value: string): void;
  send(body: string): void;
  headersSent?: boolean;
}

/** Builds the problem document for any thrown value (pure; used by the filter and by tests). */
export function toProblem(exception: unknown, instance: string): ProblemDocument {
  const ctx = trace.getActiveSpan()?.spanContext();
  const traceId = ctx && trace.isSpanContextValid(ctx) ? ctx.traceId : undefined;
  const make = (code: RefusalCode, status: number, detail: string, details?: Readonly<Record<string, unknown>>): ProblemDocument => ({
    type: `${PROBLEM_TYPE_BASE}${code}`,
    title: REFUSALS[code].description,
    status,
    detail,
    code,
    instance,
    ...(details && Object.keys(details).length > 0 ? { details } : {}),
    ...(traceId ? { traceId } : {}),
  });
  if (isKoaRefusal(exception)) return make(exception.code, exception.httpStatus, exception.message, exception.details);
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status >= 500) return make('INTERNAL', status, 'An unexpected internal error occurred; see the service log under the trace id.');
    const code: RefusalCode = status === 404 ? 'NOT_FOUND' : 'REQUEST_INVALID';
    const body = exception.getResponse();
    const message = typeof body === 'object' && body !== null && 'message' in body ? (body as { message: unknown }).message : exception.message;
    return make(code, status, Array.isArray(message) ? message.join('; ') : String(message));
  }
  return make('INTERNAL', 500, 'An unexpected internal error occurred; see the service log under the trace id.');
}

/**
 * The one HTTP error mapping (STYLE.md habit 11): every error leaving a controller becomes an
 * RFC 7807 `application/problem+json` response.
 *
 * - `KoaRefusal` ⇒ `status = REFUSALS[code].http`, `code`, `detail = message`, `details`.
 * - Nest `HttpException` ⇒ its status; `NOT_FOUND` for 404, `REQUEST_INVALID` for other 4xx,
 *   `INTERNAL` for 5xx.
 * - anything else ⇒ `INTERNAL` 500 with a generic detail (the error itself is logged, never sent).
 *
 * In the event-handler (RPC) context it passes the error through UNCHANGED, so that the JetStream
 * transport's ack/nak/dead-letter policy sees the real `KoaRefusal` (as `KoaEventExceptionFilter`
 * from `@koa/platform/messaging` does); `bootstrapService` registers it for both.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemDetails');

  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    if (host.getType() !== 'http') return throwError(() => exception);
    const http = host.switchToHttp();
    const request = http.getRequest<{ originalUrl?: string; url?: string; method?: string }>();
    const response = http.getResponse<HttpResponseLike>();
    const problem = toProblem(exception, request.originalUrl ?? request.url ?? '');
    if (problem.status >= 500) {
      this.logger.error({ msg: `${request.method} ${problem.instance} failed`, code: problem.code }, exception instanceof Error ? exception : String(exception));
    } else {
      this.logger.debug({ msg: `${request.method} ${problem.instance} refused`, code: problem.code, detail: problem.detail });
    }
    if (response.headersSent) return;
    response.status(problem.status);
    response.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
    response.send(JSON.stringify(problem));
  }
}
