import { Catch, type ArgumentsHost, type RpcExceptionFilter } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';

/**
 * Passes a handler's error through UNCHANGED to the `JetStreamTransport`, so that the transport's
 * disposition policy sees the real `KoaRefusal` (code, retryable) rather than Nest's generic
 * `{ status: 'error', message: 'Internal server error' }`.
 *
 * Register it for event handlers, either on the controller (`@UseFilters(KoaEventExceptionFilter)`)
 * or on the microservice (`microservice.useGlobalFilters(new KoaEventExceptionFilter())`; in a
 * hybrid app, on the instance returned by `app.connectMicroservice(...)`). Without it the
 * transport still fails safe: the masked error is treated as retryable (`HANDLER_FAILED`), so a
 * permanent refusal is only dead-lettered after `maxDeliver` attempts (`MAX_DELIVER_EXCEEDED`).
 */
@Catch()
export class KoaEventExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}
