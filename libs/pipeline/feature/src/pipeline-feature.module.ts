import { Module } from '@nestjs/common';
import type { ConsumerSpec } from '@koa/platform/messaging';
import type { EntityList, Migration } from '@koa/platform/persistence';
import { baseConfigSchema } from '@koa/platform/service';

/**
 * Placeholder wiring for the pipeline-worker service (filled in by the pipeline domain engineer): the Nest
 * feature module its app boots, the durable consumers its handlers serve, and its Postgres schema,
 * entities, migrations and configuration.
 */
@Module({})
export class PipelineFeatureModule {}

/** Durable JetStream consumers served by this service's `@EventPattern` handlers. */
export const PIPELINE_CONSUMERS: ConsumerSpec[] = [];
/** The service's own Postgres schema. */
export const PIPELINE_DB_SCHEMA = 'pipeline';
/** TypeORM entities of the service (from its data-access lib). */
export const PIPELINE_ENTITIES: EntityList = [];
/** Plain-SQL migrations of the service schema, applied in order at boot. */
export const PIPELINE_MIGRATIONS: Migration[] = [];
/** The service's configuration: the base variables (add service variables with `.extend({...})`). */
export const PIPELINE_CONFIG_SCHEMA = baseConfigSchema.extend({});
