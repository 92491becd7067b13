import { Module } from '@nestjs/common';
import type { ConsumerSpec } from '@koa/platform/messaging';
import type { EntityList, Migration } from '@koa/platform/persistence';
import { baseConfigSchema } from '@koa/platform/service';

/**
 * Placeholder wiring for the audit-ledger service (filled in by the ledger domain engineer): the Nest
 * feature module its app boots, the durable consumers its handlers serve, and its Postgres schema,
 * entities, migrations and configuration.
 */
@Module({})
export class LedgerFeatureModule {}

/** Durable JetStream consumers served by this service's `@EventPattern` handlers. */
export const LEDGER_CONSUMERS: ConsumerSpec[] = [];
/** The service's own Postgres schema. */
export const LEDGER_DB_SCHEMA = 'ledger';
/** TypeORM entities of the service (from its data-access lib). */
export const LEDGER_ENTITIES: EntityList = [];
/** Plain-SQL migrations of the service schema, applied in order at boot. */
export const LEDGER_MIGRATIONS: Migration[] = [];
/** The service's configuration: the base variables (add service variables with `.extend({...})`). */
export const LEDGER_CONFIG_SCHEMA = baseConfigSchema.extend({});
