export {
  LedgerFeatureModule,
  LEDGER_DURABLE,
  LEDGER_CONSUMERS,
  LEDGER_DB_SCHEMA,
  LEDGER_ENTITIES,
  LEDGER_MIGRATIONS,
  LEDGER_CONFIG_SCHEMA,
} from './ledger-feature.module';
export { LedgerService, PARKED_CHECK_MS } from './ledger.service';
export { LedgerEventsController, LEDGER_EVENT_TYPES } from './ledger-events.controller';
export { LedgerHttpController } from './ledger-http.controller';
export { jetStreamReplaySource } from './replay-source';
export { ackFloorFence } from './ack-floor-fence';
