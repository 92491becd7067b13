import { Module } from '@nestjs/common';
import { filters } from '@koa/contracts';
import { MESSAGING, type ConsumerSpec, type Messaging } from '@koa/platform/messaging';
import { DataSource, type EntityList, type Migration } from '@koa/platform/persistence';
import { CLOCK, SERVICE_CONFIG, type Clock } from '@koa/platform/service';
import { ChannelReadModel, RELEASE_MIGRATIONS as DATA_MIGRATIONS, RELEASE_SCHEMA } from '@koa/release/data-access';
import { RELEASE_CONFIG_SCHEMA, type ReleaseConfig } from './config';
import { ChannelsController, PacksController, TrustController } from './http.controllers';
import { DevKeyringProvider, RELEASE_KEYS, type ReleaseKeyProvider } from './keys';
import { ReleaseEventsController } from './release-events.controller';
import { RecentPacks } from './recent-packs';
import { ReleaseProcess } from './release-process';

/** Durable consumer of Case events: runs release tasks. */
export const RELEASE_TASKS_CONSUMER = 'konnaxion-release';
/** Durable consumer of release events: projects `ReleaseActivated` into `release.channels`. */
export const RELEASE_CHANNELS_CONSUMER = 'konnaxion-release-channels';

/**
 * The konnaxion-release feature: release task handling ({@link ReleaseProcess}), the channel
 * read model projection, and the HTTP API (pack download, channel status, trust roots).
 * Booted by `apps/konnaxion-release` through `bootstrapService` with the constants below.
 */
@Module({
  controllers: [ReleaseEventsController, PacksController, ChannelsController, TrustController],
  providers: [
    {
      provide: RELEASE_KEYS,
      useFactory: (config: ReleaseConfig, clock: Clock): ReleaseKeyProvider => new DevKeyringProvider(config.KEYS_DIR, config.ENVIRONMENTS, () => clock.now()),
      inject: [SERVICE_CONFIG, CLOCK],
    },
    { provide: ChannelReadModel, useFactory: (ds: DataSource) => new ChannelReadModel(ds), inject: [DataSource] },
    { provide: RecentPacks, useFactory: () => new RecentPacks() },
    {
      provide: ReleaseProcess,
      useFactory: (messaging: Messaging, keys: ReleaseKeyProvider, clock: Clock, config: ReleaseConfig, recent: RecentPacks) => new ReleaseProcess(messaging, keys, clock, config, undefined, recent),
      inject: [MESSAGING, RELEASE_KEYS, CLOCK, SERVICE_CONFIG, RecentPacks],
    },
  ],
  exports: [ReleaseProcess, ChannelReadModel, RELEASE_KEYS],
})
export class ReleaseFeatureModule {}

/** Durable JetStream consumers served by this service's `@EventPattern` handlers. */
export const RELEASE_CONSUMERS: ConsumerSpec[] = [
  // release tasks are long: one per pull. No inbox: a release run is idempotent and re-entrant by
  // itself (docs/release-service.md §4), so no transaction is held around it and an ignored build
  // task costs none
  { durable: RELEASE_TASKS_CONSUMER, filterSubject: filters.aggregate('case'), batch: 1, inbox: false },
  { durable: RELEASE_CHANNELS_CONSUMER, filterSubject: filters.aggregate('release') },
];
/** The service's own Postgres schema. */
export const RELEASE_DB_SCHEMA = RELEASE_SCHEMA;
/** TypeORM entities of the service (the read model uses plain SQL; none). */
export const RELEASE_ENTITIES: EntityList = [];
/** Plain-SQL migrations of the service schema, applied in order at boot. */
export const RELEASE_MIGRATIONS: Migration[] = [...DATA_MIGRATIONS];
export { RELEASE_CONFIG_SCHEMA };
