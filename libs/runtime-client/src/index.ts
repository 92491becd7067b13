/**
 * @koa/runtime-client — the offline-first consumer SDK (docs/runtime-consumer.md): verify
 * release notices against a pinned trust root, download packs with a bound, persist the exact
 * signed bytes atomically, answer lookups and searches from the last verified pack.
 */
export { RuntimeClient } from './runtime-client';
export type { RuntimeClientOptions, RuntimeStatus, RuntimeHealthState, RuntimeRefusal, OfferResult, RuntimeMessaging, RuntimeLogger } from './runtime-client';
export { httpPackFetcher } from './fetch-pack';
export type { PackFetcher, HttpPackFetcherOptions } from './fetch-pack';
export { PackStore, RuntimeStateSchema, StoredReleaseSchema, STATE_REPORTS_MAX } from './pack-store';
export type { RuntimeState, StoredRelease, StagedFile, PendingReport } from './pack-store';
