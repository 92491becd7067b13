/**
 * @koa/ingest/data-access — the `ingest` Postgres schema of ingest-gateway: migrations and the
 * `ingest.snapshots` read model (the event log is the truth).
 */
export { INGEST_SCHEMA, INGEST_MIGRATIONS } from './migrations';
export { SnapshotReadModel, type SnapshotQuery, type SnapshotRecord } from './snapshot-read-model';
