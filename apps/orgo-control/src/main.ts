import 'reflect-metadata';
import { bootstrapService } from '@koa/platform/service';
import {
  OrgoFeatureModule,
  ORGO_CONFIG_SCHEMA,
  ORGO_CONSUMERS,
  ORGO_DB_SCHEMA,
  ORGO_ENTITIES,
  ORGO_MIGRATIONS,
} from '@koa/orgo/feature';

void bootstrapService({
  name: 'orgo-control',
  schema: ORGO_CONFIG_SCHEMA,
  module: OrgoFeatureModule,
  consumers: ORGO_CONSUMERS,
  dbSchema: ORGO_DB_SCHEMA,
  entities: ORGO_ENTITIES,
  migrations: ORGO_MIGRATIONS,
  defaultHttpPort: 8082,
});
