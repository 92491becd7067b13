import type { Messaging } from '@koa/platform/messaging';
import type { AppendFence } from '@koa/ledger/data-access';

/**
 * The ledger's append fence over JetStream: a gap `[from, to]` in front of an append is decided
 * when the durable consumer's ack floor has reached `to` — every message at or below the floor was
 * acknowledged or terminated (dead-lettered), and the ledger acks a message only after its
 * transaction committed it as an entry, as parked (`ledger.pending`, appended first) or as a
 * duplicate `source#id` (never an entry). A message still pending anywhere — another replica's
 * batch, a nak'd one awaiting redelivery — keeps the floor below it. Unsure (the broker does not
 * answer) ⇒ `false`: the append is parked, which is always safe.
 */
export function ackFloorFence(messaging: Messaging | undefined, stream: string, durable: string): AppendFence {
  return {
    async gapDecided(_fromSeq, toSeq) {
      if (!messaging) return false;
      try {
        const info = await messaging.jsm.consumers.info(stream, durable);
        return info.ack_floor.stream_seq >= toSeq;
      } catch {
        return false;
      }
    },
  };
}
