import { Module } from '@nestjs/common';
import type { ConsumerSpec } from '@koa/platform/messaging';
import type { EntityList, Migration } from '@koa/platform/persistence';
import { baseConfigSchema } from '@koa/platform/service';

/**
 * Placeholder wiring for the konnaxion-release service (filled in by the release domain engineer): the Nest
 * feature module its app boots, the durable consumers its handlers serve, and its Postgres schema,
 * entities, migrations and configuration.
 */
@Module({})
export class ReleaseFeatureModule {}

/** Durable JetStream consumers served by this service's `@EventPattern` handlers. */
export const RELEASE_CONSUMERS: ConsumerSpec[] = [];
/** The service's own Postgres schema. */
export const RELEASE_DB_SCHEMA = 'release';
/** TypeORM entities of the service (from its data-access lib). */
export const RELEASE_ENTITIES: EntityList = [];
/** Plain-SQL migrations of the service schema, applied in order at boot. */
export const RELEASE_MIGRATIONS: Migration[] = [];
/** The service's configuration: the base variables (add service variables with `.extend({...})`). */
export const RELEASE_CONFIG_SCHEMA = baseConfigSchema.extend({});
