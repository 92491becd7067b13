import { Module } from '@nestjs/common';
import { filters } from '@koa/contracts';
import { MESSAGING, type ConsumerSpec, type Messaging } from '@koa/platform/messaging';
import type { EntityList, Migration } from '@koa/platform/persistence';
import { CLOCK, SERVICE_CONFIG, type Clock } from '@koa/platform/service';
import { BuildTaskController } from './build-task.controller';
import { PIPELINE_CONFIG_SCHEMA, settingsFromConfig, type PipelineConfig } from './config';
import { PipelineWorker } from './pipeline-worker';

/**
 * The pipeline-worker service: one durable consumer on Case events, running builds for build
 * tasks (see {@link PipelineWorker}). It keeps no read model of its own: the build aggregate in
 * the event log is its state; Postgres holds only the transport's inbox.
 */
@Module({
  controllers: [BuildTaskController],
  providers: [
    {
      provide: PipelineWorker,
      inject: [MESSAGING, CLOCK, SERVICE_CONFIG],
      useFactory: (messaging: Messaging, clock: Clock, config: PipelineConfig) => new PipelineWorker(messaging, clock, settingsFromConfig(config)),
    },
  ],
})
export class PipelineFeatureModule {}

/** The durable consumer served by {@link BuildTaskController}: every Case event, all tenants. */
export const PIPELINE_CONSUMERS: ConsumerSpec[] = [
  // builds are long: one per pull (ack deadline per build). No inbox: a build is idempotent by itself
  // (deterministic event ids appended with expected sequences; a finished build is recognised), so
  // no transaction is held around it and an ignored release task costs none
  { durable: 'pipeline-worker', filterSubject: filters.aggregate('case'), batch: 1, inbox: false },
];
/** The service's own Postgres schema (the transport's inbox lives there). */
export const PIPELINE_DB_SCHEMA = 'pipeline';
/** pipeline-worker has no read-model entities. */
export const PIPELINE_ENTITIES: EntityList = [];
/** ...and no migrations of its own (the inbox table is ensured by the transport's store). */
export const PIPELINE_MIGRATIONS: Migration[] = [];
export { PIPELINE_CONFIG_SCHEMA };
