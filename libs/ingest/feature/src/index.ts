export { INGEST_CONFIG_SCHEMA, DEFAULT_INBOUND_CONCURRENCY, INBOUND_BATCH, PROJECTION_BATCH_WAIT_MS, inboundBatch, type IngestConfig } from './config';
export { IngestFeatureModule, INGEST_CONSUMERS, ingestConsumers, INGEST_DB_SCHEMA, INGEST_ENTITIES, INGEST_MIGRATIONS } from './ingest-feature.module';
export { IngestController, MAX_JSON_BODY_BYTES } from './ingest.controller';
export { IngestEventsController, INGEST_INBOUND_DURABLE, INGEST_PROJECTION_DURABLE } from './inbound.consumer';
export { SnapshotService, type CaptureRequest, type CaptureResult, type SealResult, type StreamableBytes } from './snapshot.service';
export { UploadSpool, inMemoryContent, type ReceivedContent, DEFAULT_SPOOL_THRESHOLD_BYTES, SPOOL_DIR_PREFIX } from './spool';
export { IngestBodyOwnership } from './body-ownership';
