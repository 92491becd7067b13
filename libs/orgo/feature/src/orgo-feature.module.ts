import { Module } from '@nestjs/common';
import type { ConsumerSpec } from '@koa/platform/messaging';
import type { EntityList, Migration } from '@koa/platform/persistence';
import { baseConfigSchema } from '@koa/platform/service';

/**
 * Placeholder wiring for the orgo-control service (filled in by the orgo domain engineer): the Nest
 * feature module its app boots, the durable consumers its handlers serve, and its Postgres schema,
 * entities, migrations and configuration.
 */
@Module({})
export class OrgoFeatureModule {}

/** Durable JetStream consumers served by this service's `@EventPattern` handlers. */
export const ORGO_CONSUMERS: ConsumerSpec[] = [];
/** The service's own Postgres schema. */
export const ORGO_DB_SCHEMA = 'orgo';
/** TypeORM entities of the service (from its data-access lib). */
export const ORGO_ENTITIES: EntityList = [];
/** Plain-SQL migrations of the service schema, applied in order at boot. */
export const ORGO_MIGRATIONS: Migration[] = [];
/** The service's configuration: the base variables (add service variables with `.extend({...})`). */
export const ORGO_CONFIG_SCHEMA = baseConfigSchema.extend({});
