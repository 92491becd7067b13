/**
 * @koa/orgo/data-access — the `orgo` Postgres schema of orgo-control: migrations and the
 * `orgo.cases` read model (the event log is the truth).
 */
export { ORGO_SCHEMA, ORGO_MIGRATIONS } from './migrations';
export { CaseReadModel, type CaseQuery } from './case-read-model';
