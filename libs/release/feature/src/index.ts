/**
 * @koa/release/feature — the konnaxion-release service: verify before activate, sign the release
 * notice, move the channel with optimistic concurrency, publish the notice; HTTP pack download,
 * channel status and trust roots. See README.md and docs/release-service.md.
 */
export {
  ReleaseFeatureModule,
  RELEASE_CONSUMERS,
  RELEASE_DB_SCHEMA,
  RELEASE_ENTITIES,
  RELEASE_MIGRATIONS,
  RELEASE_CONFIG_SCHEMA,
  RELEASE_TASKS_CONSUMER,
  RELEASE_CHANNELS_CONSUMER,
} from './release-feature.module';
export { DEFAULT_TRUSTED_BUILDERS, type ReleaseConfig } from './config';
export { ReleaseProcess, releaseEventId, MAX_CONCURRENCY_ATTEMPTS, type ReleaseOutcome, type ReleaseProcessSettings } from './release-process';
export { RELEASE_KEYS, DevKeyringProvider, type ReleaseKeyProvider } from './keys';
export { ReleaseEventsController } from './release-events.controller';
export { PacksController, ChannelsController, TrustController, PACK_MEDIA_TYPE, type ChannelStatusResponse } from './http.controllers';
