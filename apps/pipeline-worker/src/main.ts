import 'reflect-metadata';
import { bootstrapService } from '@koa/platform/service';
import {
  PipelineFeatureModule,
  PIPELINE_CONFIG_SCHEMA,
  PIPELINE_CONSUMERS,
  PIPELINE_DB_SCHEMA,
  PIPELINE_ENTITIES,
  PIPELINE_MIGRATIONS,
} from '@koa/pipeline/feature';

void bootstrapService({
  name: 'pipeline-worker',
  schema: PIPELINE_CONFIG_SCHEMA,
  module: PipelineFeatureModule,
  consumers: PIPELINE_CONSUMERS,
  dbSchema: PIPELINE_DB_SCHEMA,
  entities: PIPELINE_ENTITIES,
  migrations: PIPELINE_MIGRATIONS,
  defaultHttpPort: 8083,
});
