import { Module } from '@nestjs/common';
import { STREAMS, filters } from '@koa/contracts';
import { INGEST_MIGRATIONS as MIGRATIONS, INGEST_SCHEMA, SnapshotReadModel } from '@koa/ingest/data-access';
import type { ConsumerSpec } from '@koa/platform/messaging';
import { DataSource, type EntityList, type Migration } from '@koa/platform/persistence';
import { IngestBodyOwnership } from './body-ownership';
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

/** Durable JetStream consumers served by ingest-gateway's handlers. */
export const INGEST_CONSUMERS: ConsumerSpec[] = [
  { durable: INGEST_INBOUND_DURABLE, stream: STREAMS.ingest.name, filterSubject: filters.allIngest, kind: 'raw', batch: 16 }, // each capture stores a blob: small batches keep ack_wait far
  { durable: INGEST_PROJECTION_DURABLE, filterSubject: filters.aggregate('snapshot'), kind: 'event' },
];
/** The service's own Postgres schema. */
export const INGEST_DB_SCHEMA = INGEST_SCHEMA;
/** TypeORM entities of the service (none: the read model uses plain SQL through the DataSource). */
export const INGEST_ENTITIES: EntityList = [];
/** Plain-SQL migrations of the `ingest` schema. */
export const INGEST_MIGRATIONS: Migration[] = [...MIGRATIONS];
