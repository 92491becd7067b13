import { Module } from '@nestjs/common';
import { filters } from '@koa/contracts';
import { CaseReadModel, ORGO_MIGRATIONS as MIGRATIONS, ORGO_SCHEMA } from '@koa/orgo/data-access';
import type { ConsumerSpec } from '@koa/platform/messaging';
import { DataSource, type EntityList, type Migration } from '@koa/platform/persistence';
import { baseConfigSchema } from '@koa/platform/service';
import { CaseService } from './case.service';
import { CasesController } from './cases.controller';
import { ORGO_DURABLES, OrgoEventsController } from './orgo.consumer';

/**
 * The orgo-control feature: the operator API (`CasesController`), the outcome/read-model consumer
 * (`OrgoEventsController`) and `CaseService`. Booted by `apps/orgo-control` through
 * `bootstrapService` (which provides MESSAGING, CLOCK, ID_FACTORY, SERVICE_CONFIG and the DataSource
 * of the `orgo` schema).
 */
@Module({
  controllers: [CasesController, OrgoEventsController],
  providers: [CaseService, { provide: CaseReadModel, useFactory: (ds: DataSource) => new CaseReadModel(ds), inject: [DataSource] }],
  exports: [CaseService],
})
export class OrgoFeatureModule {}

/** Durable JetStream consumers served by orgo-control's handlers: one per aggregate read ({@link ORGO_DURABLES}). */
export const ORGO_CONSUMERS: ConsumerSpec[] = [
  { durable: ORGO_DURABLES.cases, filterSubject: filters.aggregate('case'), kind: 'event' },
  // outcomes need no inbox: recording one is idempotent by itself (causation ids on the Case,
  // appends guarded by its sequence), so the handler starts without a database round trip
  { durable: ORGO_DURABLES.builds, filterSubject: filters.aggregate('build'), kind: 'event', inbox: false },
  { durable: ORGO_DURABLES.releases, filterSubject: filters.aggregate('release'), kind: 'event', inbox: false },
];
/** The service's own Postgres schema. */
export const ORGO_DB_SCHEMA = ORGO_SCHEMA;
/** TypeORM entities of the service (none: the read model uses plain SQL through the DataSource). */
export const ORGO_ENTITIES: EntityList = [];
/** Plain-SQL migrations of the `orgo` schema. */
export const ORGO_MIGRATIONS: Migration[] = [...MIGRATIONS];
/** orgo-control configuration: the base variables (see `baseConfigSchema`); no service-specific ones yet. */
export const ORGO_CONFIG_SCHEMA = baseConfigSchema.extend({});
