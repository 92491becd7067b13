import { isKoaRefusal, type RefusalCode } from '@koa/contracts';

export type Disposition = { action: 'nak'; delayMs: number } | { action: 'dead-letter'; code: RefusalCode; message: string };

/**
 * THE disposition policy for a delivery whose processing failed (success is always `ack`).
 *
 * - a non-retryable `KoaRefusal` (schema invalid, handler rejected, ...) ⇒ dead-letter with its code;
 * - `deliveryCount >= maxDeliver` (this was the last allowed attempt) ⇒ dead-letter
 *   `MAX_DELIVER_EXCEEDED`, whose message carries the last error;
 * - anything else (retryable refusal, unknown error) ⇒ `nak` with `backoffMs[deliveryCount - 1]`
 *   (1-based attempts; the last entry repeats; an empty schedule means no delay).
 *
 * Pure: no clock, no I/O. The transport publishes the dead-letter record and then `term()`s.
 */
export function decideDisposition(error: unknown, deliveryCount: number, o: { maxDeliver: number; backoffMs: readonly number[] }): Disposition {
  if (isKoaRefusal(error) && !error.retryable) return { action: 'dead-letter', code: error.code, message: error.message };
  if (deliveryCount >= o.maxDeliver) {
    return { action: 'dead-letter', code: 'MAX_DELIVER_EXCEEDED', message: `failed on all ${o.maxDeliver} allowed deliveries; last error: ${describeError(error)}` };
  }
  const schedule = o.backoffMs;
  const delayMs = schedule.length === 0 ? 0 : schedule[Math.min(Math.max(deliveryCount, 1), schedule.length) - 1];
  return { action: 'nak', delayMs };
}

/** `CODE: message` for refusals, the message for errors, JSON for anything else (bounded). */
export function describeError(error: unknown): string {
  let text: string;
  if (isKoaRefusal(error)) text = `${error.code}: ${error.message}`;
  else if (error instanceof Error) text = error.message;
  else {
    try {
      text = JSON.stringify(error);
    } catch {
      text = String(error);
    }
  }
  return (text ?? String(error)).slice(0, 1000);
}
