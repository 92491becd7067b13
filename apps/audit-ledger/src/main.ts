import 'reflect-metadata';
import { bootstrapService } from '@koa/platform/service';
import {
  LedgerFeatureModule,
  LEDGER_CONFIG_SCHEMA,
  LEDGER_CONSUMERS,
  LEDGER_DB_SCHEMA,
  LEDGER_ENTITIES,
  LEDGER_MIGRATIONS,
} from '@koa/ledger/feature';

void bootstrapService({
  name: 'audit-ledger',
  schema: LEDGER_CONFIG_SCHEMA,
  module: LedgerFeatureModule,
  consumers: LEDGER_CONSUMERS,
  dbSchema: LEDGER_DB_SCHEMA,
  entities: LEDGER_ENTITIES,
  migrations: LEDGER_MIGRATIONS,
  defaultHttpPort: 8085,
});
