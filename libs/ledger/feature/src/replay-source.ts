import { filters, KoaRefusal, STREAMS } from '@koa/contracts';
import type { Messaging } from '@koa/platform/messaging';
import type { ReplaySource } from '@koa/ledger/data-access';

/**
 * Replays KOA_EVENTS from sequence 1 with an ordered consumer (`Messaging.watch`, deliver all),
 * awaiting each message, until the message with seq ≥ `untilSeq` has been handled. Fails with
 * BROKER_UNAVAILABLE if no message arrives for `idleTimeoutMs` (default 30 s) before that.
 */
export function jetStreamReplaySource(messaging: Messaging, o: { idleTimeoutMs?: number } = {}): ReplaySource {
  const idleTimeoutMs = o.idleTimeoutMs ?? 30_000;
  return {
    async replay(untilSeq, onMessage) {
      if (untilSeq <= 0) return;
      await new Promise<void>((resolve, reject) => {
        let done = false;
        let stop: (() => Promise<void>) | undefined;
        let pendingStop = false;
        // one interval for the idle check (not a timer re-armed per message)
        let last = Date.now();
        const finish = (error?: unknown) => {
          if (done) return;
          done = true;
          clearInterval(watchdog);
          const settle = () => (error === undefined ? resolve() : reject(error));
          if (stop) void stop().finally(settle);
          else {
            pendingStop = true;
            settle();
          }
        };
        const watchdog = setInterval(
          () => {
            if (Date.now() - last >= idleTimeoutMs) {
              finish(new KoaRefusal('BROKER_UNAVAILABLE', `replay of ${STREAMS.events.name} stalled: no message for ${idleTimeoutMs} ms before reaching seq ${untilSeq}`, { untilSeq }));
            }
          },
          Math.max(10, Math.min(1_000, Math.floor(idleTimeoutMs / 4))),
        );
        messaging
          .watch({ stream: STREAMS.events.name, filterSubject: filters.allEvents, deliver: 'all' }, (m) => {
            if (done) return;
            last = Date.now();
            let pending: Promise<void> | void;
            try {
              pending = onMessage({ seq: m.seq, subject: m.subject, data: m.data });
            } catch (e) {
              finish(e);
              return;
            }
            const handled = () => {
              if (m.seq >= untilSeq) finish();
            };
            // a handler that returned nothing is done: no promise (and no extra tick) per message
            if (pending === undefined) return handled();
            return pending.then(
              () => {
                last = Date.now();
                handled();
              },
              (e: unknown) => finish(e),
            );
          })
          .then(
            (handle) => {
              stop = () => handle.stop();
              if (pendingStop) void handle.stop();
            },
            (e: unknown) => finish(e),
          );
      });
    },
  };
}
