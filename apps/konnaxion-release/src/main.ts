import 'reflect-metadata';
import { bootstrapService } from '@koa/platform/service';
import {
  ReleaseFeatureModule,
  RELEASE_CONFIG_SCHEMA,
  RELEASE_CONSUMERS,
  RELEASE_DB_SCHEMA,
  RELEASE_ENTITIES,
  RELEASE_MIGRATIONS,
} from '@koa/release/feature';

void bootstrapService({
  name: 'konnaxion-release',
  schema: RELEASE_CONFIG_SCHEMA,
  module: ReleaseFeatureModule,
  consumers: RELEASE_CONSUMERS,
  dbSchema: RELEASE_DB_SCHEMA,
  entities: RELEASE_ENTITIES,
  migrations: RELEASE_MIGRATIONS,
  defaultHttpPort: 8084,
});
