export { LEDGER_MIGRATIONS } from './migrations';
export { LEDGER_ENTITIES, LedgerEntryEntity, LedgerHeadEntity, ProjectionStateEntity } from './entities';
export {
  appendToLedger,
  verifyLedger,
  readHead,
  listEntries,
  readProjectionStatus,
  loadReleaseRecords,
  loadCaseRecords,
  rebuildProjections,
  writeUpsert,
  type AppendResult,
  type LedgerHead,
  type StoredEvent,
  type ProjectionStatus,
  type ReplaySource,
  type ReplayedMessage,
  type RebuildReport,
} from './ledger-store';
/** The service's Postgres schema. */
export const LEDGER_DB_SCHEMA = 'ledger';
