import { Module } from '@nestjs/common';
import { filters } from '@koa/contracts';
import type { ConsumerSpec } from '@koa/platform/messaging';
import type { EntityList, Migration } from '@koa/platform/persistence';
import { baseConfigSchema } from '@koa/platform/service';
import { LEDGER_DB_SCHEMA as SCHEMA, LEDGER_ENTITIES as ENTITIES, LEDGER_MIGRATIONS as MIGRATIONS } from '@koa/ledger/data-access';
import { LedgerEventsController } from './ledger-events.controller';
import { LedgerHttpController } from './ledger-http.controller';
import { LEDGER_DURABLE, LedgerService } from './ledger.service';

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

export { LEDGER_DURABLE };

/**
 * One durable consumer over every event, in batches (the transport's default: up to 256
 * deliveries per pull and per inbox transaction, which then locks the chain head once), with
 * `ordering: 'strict'`: a batch stops at its first retryable failure and the messages after it
 * wait for it. Across replicas, which the server hands messages to alternately, stream order is
 * kept by the ledger itself: an append chains onto the head's seq + 1, or follows a gap the
 * durable has decided for good (its ack floor, `ackFloorFence`); a delivery that is ahead of an
 * undecided message is parked and appended right after it (docs/audit-ledger.md §1).
 */
export const LEDGER_CONSUMERS: ConsumerSpec[] = [{ durable: LEDGER_DURABLE, filterSubject: filters.allEvents, ordering: 'strict' }];
/** The service's own Postgres schema. */
export const LEDGER_DB_SCHEMA = SCHEMA;
/** TypeORM entities of the service (from its data-access lib). */
export const LEDGER_ENTITIES: EntityList = ENTITIES;
/** Plain-SQL migrations of the service schema, applied in order at boot. */
export const LEDGER_MIGRATIONS: Migration[] = MIGRATIONS;
/** The service's configuration: the base variables. */
export const LEDGER_CONFIG_SCHEMA = baseConfigSchema.extend({});
