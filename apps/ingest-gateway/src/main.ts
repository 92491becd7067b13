import 'reflect-metadata';
import { bootstrapService } from '@koa/platform/service';
import {
  IngestFeatureModule,
  INGEST_CONFIG_SCHEMA,
  INGEST_CONSUMERS,
  INGEST_DB_SCHEMA,
  INGEST_ENTITIES,
  INGEST_MIGRATIONS,
} from '@koa/ingest/feature';

void bootstrapService({
  name: 'ingest-gateway',
  schema: INGEST_CONFIG_SCHEMA,
  module: IngestFeatureModule,
  consumers: INGEST_CONSUMERS,
  dbSchema: INGEST_DB_SCHEMA,
  entities: INGEST_ENTITIES,
  migrations: INGEST_MIGRATIONS,
  defaultHttpPort: 8081,
});
