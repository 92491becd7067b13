/** `@koa/pipeline/feature`: the pipeline-worker service (build tasks ⇒ builds ⇒ packs). */
export { PipelineFeatureModule, PIPELINE_CONSUMERS, PIPELINE_DB_SCHEMA, PIPELINE_ENTITIES, PIPELINE_MIGRATIONS, PIPELINE_CONFIG_SCHEMA } from './pipeline-feature.module';
export { PipelineWorker, PIPELINE_SOURCE, PIPELINE_ACTOR, EVIDENCE_RESULTS_CAP, type BuildTaskOutcome } from './pipeline-worker';
export { BuildTaskController } from './build-task.controller';
export { DEFAULT_BUILDER_ID, PIPELINE_WORKER_VERSION, settingsFromConfig, type PipelineConfig, type PipelineWorkerSettings } from './config';
export { buildIdFor, buildEventId } from './ids';
