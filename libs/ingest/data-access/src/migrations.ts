import type { Migration } from '@koa/platform/persistence';

/** The Postgres schema ingest-gateway owns. */
export const INGEST_SCHEMA = 'ingest';

/**
 * Migrations of the `ingest` schema (applied in order, once, at boot). Never edit a shipped one;
 * append a new one.
 *
 * `snapshots` is a read model of the `snapshot` aggregates (the event log is the truth; the table
 * can be truncated and rebuilt by replay): one row per tenant + digest. Tenant isolation is
 * enforced by row-level security keyed on the transaction setting `koa.tenant` (set by
 * `SnapshotReadModel` on every statement); `FORCE` applies it to the table owner too (a superuser
 * still bypasses RLS: run the service as a plain role).
 */
export const INGEST_MIGRATIONS: readonly Migration[] = [
  {
    id: '0001_snapshots',
    up: `
      CREATE TABLE snapshots (
        tenant       text        NOT NULL,
        digest       text        NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
        size         bigint      NOT NULL CHECK (size > 0),
        media_type   text        NOT NULL,
        source       text        NOT NULL,
        object_name  text        NOT NULL,
        source_ref   text        NOT NULL,
        adapter      text        NOT NULL,
        provenance   jsonb       NOT NULL,
        actor        text        NOT NULL,
        reason       text,
        event_id     text        NOT NULL,
        captured_at  timestamptz NOT NULL,
        PRIMARY KEY (tenant, digest)
      );
      CREATE INDEX snapshots_by_source ON snapshots (tenant, source, captured_at DESC, digest);
      CREATE INDEX snapshots_by_time ON snapshots (tenant, captured_at DESC, digest);
      ALTER TABLE snapshots ENABLE ROW LEVEL SECURITY;
      ALTER TABLE snapshots FORCE ROW LEVEL SECURITY;
      CREATE POLICY snapshots_tenant_isolation ON snapshots
        USING (tenant = current_setting('koa.tenant', true))
        WITH CHECK (tenant = current_setting('koa.tenant', true));
    `,
  },
];
