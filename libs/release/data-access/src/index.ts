/**
 * @koa/release/data-access — the `release` Postgres schema of konnaxion-release: migrations and
 * the `release.channels` read model (status only; the event log is the truth).
 */
export { RELEASE_SCHEMA, RELEASE_MIGRATIONS } from './migrations';
export { ChannelReadModel, type ChannelStatus } from './channel-read-model';
