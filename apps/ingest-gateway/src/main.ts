import 'reflect-metadata';
import { bootstrapService } from '@koa/platform/service';
import {
  DEFAULT_INBOUND_CONCURRENCY,
  IngestFeatureModule,
  INGEST_CONFIG_SCHEMA,
  INGEST_DB_SCHEMA,
  INGEST_ENTITIES,
  INGEST_MIGRATIONS,
  ingestConsumers,
} from '@koa/ingest/feature';

// the consumer specs depend on one setting; an invalid value is refused by bootstrapService's own
// parse of the whole configuration (CONFIG_INVALID naming the variable), so the default here is moot
const inbound = INGEST_CONFIG_SCHEMA.shape.INGEST_INBOUND_CONCURRENCY.safeParse(process.env['INGEST_INBOUND_CONCURRENCY']);

void bootstrapService({
  name: 'ingest-gateway',
  schema: INGEST_CONFIG_SCHEMA,
  module: IngestFeatureModule,
  consumers: ingestConsumers({ INGEST_INBOUND_CONCURRENCY: inbound.success ? inbound.data : DEFAULT_INBOUND_CONCURRENCY }),
  dbSchema: INGEST_DB_SCHEMA,
  entities: INGEST_ENTITIES,
  migrations: INGEST_MIGRATIONS,
  defaultHttpPort: 8081,
});
