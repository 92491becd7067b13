/**
 * Idempotency by (consumer, key) with NO time limit — the "inbox". `Nats-Msg-Id` only
 * de-duplicates inside the stream's window (minutes); redeliveries, replays and re-publishes
 * later than that are caught here. The key for events is `dedupKey(event)` (`source#id`).
 *
 * `runOnce` runs `work` at most once per (consumer, key) to completion: it records the key and
 * runs `work` in ONE transaction (`tx` is the store's transaction handle, e.g. a TypeORM
 * `EntityManager` for the Postgres inbox, so the handler's writes commit with the key). If `work`
 * throws, nothing is recorded and the error propagates (the delivery is retried). A concurrent
 * call for the same key waits for the first to finish and then reports `duplicate: true`
 * (or runs, if the first failed).
 *
 * Implementations: `PgInboxStore` (`@koa/platform/persistence`), `MemoryInboxStore`
 * (`@koa/platform/messaging/testing`, a behavioural fake for unit tests).
 */
export interface InboxStore {
  runOnce<T>(consumer: string, key: string, work: (tx: unknown) => Promise<T>): Promise<{ duplicate: true } | { duplicate: false; value: T }>;
}
