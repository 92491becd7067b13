// @koa/platform/messaging — the JetStream messaging platform (the only importer of @nats-io/*).
export { Messaging, WATCH_PAGE_SIZE, type RawMessage, type BlobStore, type ConnectOptions, type AppendOptions, type PublishOptions, type WatchOptions } from './messaging';
export { ConcurrencyConflict } from './errors';
export { CachedAggregates, type AggregateRead } from './cached-aggregates';
export { JetStreamTransport, DEFAULT_BATCH, type ConsumerSpec, type JetStreamTransportOptions } from './transport';
export { KoaEventContext } from './context';
export { KoaEventExceptionFilter } from './exception-filter';
export type { InboxStore, InboxBatchOutcome } from './inbox';
export { decideDisposition, describeError, type Disposition } from './disposition';
export { MESSAGING } from './tokens';
