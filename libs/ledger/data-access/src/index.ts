export { LEDGER_MIGRATIONS } from './migrations';
export { LEDGER_ENTITIES, LedgerEntryEntity, LedgerHeadEntity, ProjectionStateEntity } from './entities';
export {
  appendToLedger,
  appendParked,
  ACCEPT_GAPS,
  type AppendFence,
  verifyLedger,
  readHead,
  listEntries,
  readProjectionStatus,
  loadReleaseRecords,
  loadCaseRecords,
  rebuildProjections,
  writeUpsert,
  writeUpserts,
  REBUILD_PAGE_EVENTS,
  type AppendResult,
  type LedgerHead,
  type StoredEvent,
  type ProjectionStatus,
  type ReplaySource,
  type ReplayedMessage,
  type RebuildReport,
} from './ledger-store';
export { UPSERT_ROWS_PER_STATEMENT } from './bulk-upsert';
/** The service's Postgres schema. */
export const LEDGER_DB_SCHEMA = 'ledger';
