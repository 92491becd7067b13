import { Module } from '@nestjs/common';
import { STREAMS, filters } from '@koa/contracts';
import { INGEST_MIGRATIONS as MIGRATIONS, INGEST_SCHEMA, SnapshotReadModel } from '@koa/ingest/data-access';
import type { ConsumerSpec } from '@koa/platform/messaging';
import { DataSource, type EntityList, type Migration } from '@koa/platform/persistence';
import { IngestBodyOwnership } from './body-ownership';
import { DEFAULT_INBOUND_CONCURRENCY, PROJECTION_BATCH_WAIT_MS, inboundBatch, type IngestConfig } from './config';
import { IngestController } from './ingest.controller';
import { INGEST_INBOUND_DURABLE, INGEST_PROJECTION_DURABLE, IngestEventsController } from './inbound.consumer';
import { SnapshotService } from './snapshot.service';
import { UploadSpool } from './spool';

/**
 * The ingest-gateway feature: HTTP uploads and snapshot sets (`IngestController`), the inbound NATS
 * consumer and the snapshot read-model projection (`IngestEventsController`), and the capture
 * service. Booted by `apps/ingest-gateway` through `bootstrapService` (which provides MESSAGING,
 * CLOCK, ID_FACTORY, SERVICE_CONFIG and the DataSource of the `ingest` schema).
 */
@Module({
  controllers: [IngestController, IngestEventsController],
  providers: [
    IngestBodyOwnership,
    SnapshotService,
    UploadSpool,
    { provide: SnapshotReadModel, useFactory: (ds: DataSource) => new SnapshotReadModel(ds), inject: [DataSource] },
  ],
  exports: [SnapshotService],
})
export class IngestFeatureModule {}

/**
 * Durable JetStream consumers served by ingest-gateway's handlers, for a configuration.
 *
 * Inbound (`koa.ingest.>`): run WITHOUT the transport's inbox (`inbox: false`, docs/decisions.md
 * "H6"): the capture is idempotent by itself — the event log is its de-duplication index (append
 * with expected sequence 0 on `snapshot/<hex>`; a redelivery finds the first capture and ends as a
 * duplicate) and a rejection is appended once per attempt id (`ingest/<attempt id>`, expected
 * sequence 0, the id derived from the stream sequence and `Nats-Msg-Id`). No database connection
 * is held while a message is captured, so `INGEST_INBOUND_CONCURRENCY` captures run as a
 * work-stealing pool over each batch of `inboundBatch(concurrency)` messages.
 *
 * Projection (`SnapshotCaptured` ⇒ `ingest.snapshots`): with the inbox (one transaction per
 * batch); a batch may wait up to `PROJECTION_BATCH_WAIT_MS` for more trickling events.
 */
export function ingestConsumers(config: Pick<IngestConfig, 'INGEST_INBOUND_CONCURRENCY'>): ConsumerSpec[] {
  const concurrency = config.INGEST_INBOUND_CONCURRENCY;
  return [
    { durable: INGEST_INBOUND_DURABLE, stream: STREAMS.ingest.name, filterSubject: filters.allIngest, kind: 'raw', inbox: false, batch: inboundBatch(concurrency), concurrency },
    { durable: INGEST_PROJECTION_DURABLE, filterSubject: filters.aggregate('snapshot'), kind: 'event', ...(PROJECTION_BATCH_WAIT_MS > 0 && { batchWaitMs: PROJECTION_BATCH_WAIT_MS }) },
  ];
}

/** {@link ingestConsumers} with the default configuration. */
export const INGEST_CONSUMERS: ConsumerSpec[] = ingestConsumers({ INGEST_INBOUND_CONCURRENCY: DEFAULT_INBOUND_CONCURRENCY });
/** The service's own Postgres schema. */
export const INGEST_DB_SCHEMA = INGEST_SCHEMA;
/** TypeORM entities of the service (none: the read model uses plain SQL through the DataSource). */
export const INGEST_ENTITIES: EntityList = [];
/** Plain-SQL migrations of the `ingest` schema. */
export const INGEST_MIGRATIONS: Migration[] = [...MIGRATIONS];
