import { Module } from '@nestjs/common';
import { filters } from '@koa/contracts';
import type { ConsumerSpec } from '@koa/platform/messaging';
import type { EntityList, Migration } from '@koa/platform/persistence';
import { baseConfigSchema } from '@koa/platform/service';
import { LEDGER_DB_SCHEMA as SCHEMA, LEDGER_ENTITIES as ENTITIES, LEDGER_MIGRATIONS as MIGRATIONS } from '@koa/ledger/data-access';
import { LedgerEventsController } from './ledger-events.controller';
import { LedgerHttpController } from './ledger-http.controller';
import { LedgerService } from './ledger.service';

/**
 * The audit-ledger service: records EVERY event of KOA_EVENTS in the hash chain and the
 * what-happened projections, and answers over HTTP. Needs the service kit's DataSource
 * (PersistenceModule) and `MESSAGING` (for rebuilds).
 */
@Module({
  controllers: [LedgerEventsController, LedgerHttpController],
  providers: [LedgerService],
  exports: [LedgerService],
})
export class LedgerFeatureModule {}

/** The durable consumer name of the ledger. */
export const LEDGER_DURABLE = 'audit-ledger';

/**
 * One durable consumer over every event. `maxAckPending: 1`: the server hands out one message
 * at a time across ALL replicas, so entries are appended in stream order (the chain head lock
 * makes concurrent replicas still build one chain).
 */
export const LEDGER_CONSUMERS: ConsumerSpec[] = [{ durable: LEDGER_DURABLE, filterSubject: filters.allEvents, maxAckPending: 1 }];
/** The service's own Postgres schema. */
export const LEDGER_DB_SCHEMA = SCHEMA;
/** TypeORM entities of the service (from its data-access lib). */
export const LEDGER_ENTITIES: EntityList = ENTITIES;
/** Plain-SQL migrations of the service schema, applied in order at boot. */
export const LEDGER_MIGRATIONS: Migration[] = MIGRATIONS;
/** The service's configuration: the base variables. */
export const LEDGER_CONFIG_SCHEMA = baseConfigSchema.extend({});
