import { Module } from '@nestjs/common';
import type { ConsumerSpec } from '@koa/platform/messaging';
import type { EntityList, Migration } from '@koa/platform/persistence';
import { baseConfigSchema } from '@koa/platform/service';

/**
 * Placeholder wiring for the ingest-gateway service (filled in by the ingest domain engineer): the Nest
 * feature module its app boots, the durable consumers its handlers serve, and its Postgres schema,
 * entities, migrations and configuration.
 */
@Module({})
export class IngestFeatureModule {}

/** Durable JetStream consumers served by this service's `@EventPattern` handlers. */
export const INGEST_CONSUMERS: ConsumerSpec[] = [];
/** The service's own Postgres schema. */
export const INGEST_DB_SCHEMA = 'ingest';
/** TypeORM entities of the service (from its data-access lib). */
export const INGEST_ENTITIES: EntityList = [];
/** Plain-SQL migrations of the service schema, applied in order at boot. */
export const INGEST_MIGRATIONS: Migration[] = [];
/** The service's configuration: the base variables (add service variables with `.extend({...})`). */
export const INGEST_CONFIG_SCHEMA = baseConfigSchema.extend({});
