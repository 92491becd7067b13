export { OrgoFeatureModule, ORGO_CONSUMERS, ORGO_DB_SCHEMA, ORGO_ENTITIES, ORGO_MIGRATIONS, ORGO_CONFIG_SCHEMA } from './orgo-feature.module';
export { CaseService, MAX_DECIDE_ATTEMPTS, type OutcomeResult, type TriggerResult } from './case.service';
export { CasesController } from './cases.controller';
export { OrgoEventsController, ORGO_DURABLES } from './orgo.consumer';
