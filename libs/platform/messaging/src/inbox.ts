/**
 * What `InboxStore.runBatch` reports for each key, in the order of the keys given:
 * - `duplicate`: the key was recorded before (or earlier in the same batch); `work` was not run;
 * - `done`: `work` ran to completion; its writes and the key are committed;
 * - `failed`: `work` threw `error`; its writes were rolled back (savepoint) and the key is NOT
 *   recorded, so a redelivery runs it again.
 */
export type InboxBatchOutcome<T> =
  | { readonly status: 'duplicate' }
  | { readonly status: 'done'; readonly value: T }
  | { readonly status: 'failed'; readonly error: unknown };

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
 * `runBatch` is the same guarantee for a batch of deliveries at the cost of ONE transaction
 * (one commit, one fsync) instead of one per delivery — what the JetStream transport uses:
 * 1. every key not yet recorded is recorded (a key recorded before, or repeated in the batch, is
 *    `duplicate` and its `work` is not run);
 * 2. for each remaining key IN ORDER, `work(index, tx)` runs inside a savepoint: success keeps its
 *    writes; a throw rolls back to the savepoint (its writes and its key only: the neighbours are
 *    untouched) and is reported `failed`;
 * 3. the transaction commits once. Outcomes are returned only after the commit succeeded; if the
 *    transaction cannot begin, record or commit, `runBatch` throws (`DATABASE_UNAVAILABLE`) and
 *    nothing of the batch is recorded: the caller must not acknowledge any of it.
 * `work` for index `i` sees the writes of the `done` items before it (same transaction). A key
 * held by another unfinished transaction (`runOnce` or `runBatch`) is waited for.
 *
 * Implementations: `PgInboxStore` (`@koa/platform/persistence`), `MemoryInboxStore`
 * (`@koa/platform/messaging/testing`, a behavioural fake for unit tests). Both pass
 * `inboxStoreContract`.
 */
export interface InboxStore {
  runOnce<T>(consumer: string, key: string, work: (tx: unknown) => Promise<T>): Promise<{ duplicate: true } | { duplicate: false; value: T }>;
  runBatch<T>(consumer: string, keys: readonly string[], work: (index: number, tx: unknown) => Promise<T>): Promise<Array<InboxBatchOutcome<T>>>;
}
