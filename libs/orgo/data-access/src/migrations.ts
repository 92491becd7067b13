import type { Migration } from '@koa/platform/persistence';

/** The Postgres schema orgo-control owns. */
export const ORGO_SCHEMA = 'orgo';

/**
 * Migrations of the `orgo` schema (applied in order, once, at boot). Never edit a shipped one;
 * append a new one.
 *
 * `cases` is a read model of the Case aggregates (the event log is the truth; truncate and replay
 * rebuilds it): one row per tenant + case, with the folded state as JSON plus the columns people
 * filter on. `event_ids` makes `apply` idempotent without an inbox (a replayed event is skipped).
 * Tenant isolation by row-level security on `koa.tenant` (set per transaction by `CaseReadModel`).
 */
export const ORGO_MIGRATIONS: readonly Migration[] = [
  {
    id: '0001_cases',
    up: `
      CREATE TABLE cases (
        tenant            text        NOT NULL,
        case_id           text        NOT NULL,
        status            text        NOT NULL CHECK (status IN ('open', 'closed')),
        phase             text        NOT NULL,
        outcome           text,
        code              text,
        env               text        NOT NULL,
        channel           text        NOT NULL,
        snapshot_set_root text        NOT NULL,
        requested_by      text        NOT NULL,
        reason            text        NOT NULL,
        idempotency_key   text        NOT NULL,
        opened_at         timestamptz NOT NULL,
        closed_at         timestamptz,
        updated_at        timestamptz NOT NULL,
        state             jsonb       NOT NULL,
        event_ids         text[]      NOT NULL,
        PRIMARY KEY (tenant, case_id)
      );
      CREATE INDEX cases_by_time ON cases (tenant, opened_at DESC, case_id);
      CREATE INDEX cases_by_status ON cases (tenant, status, opened_at DESC);
      ALTER TABLE cases ENABLE ROW LEVEL SECURITY;
      ALTER TABLE cases FORCE ROW LEVEL SECURITY;
      CREATE POLICY cases_tenant_isolation ON cases
        USING (tenant = current_setting('koa.tenant', true))
        WITH CHECK (tenant = current_setting('koa.tenant', true));
    `,
  },
];
