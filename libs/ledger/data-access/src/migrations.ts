import type { Migration } from '@koa/platform/persistence';

/**
 * Schema `ledger` (plain SQL, applied in order by the persistence kit under an advisory lock;
 * never edit a shipped migration, add one). Times copied from events are kept as the producer
 * wrote them (text), so a rebuild reproduces rows byte for byte.
 *
 * Projection tables enforce tenant isolation by row-level security on the transaction-local
 * setting `koa.tenant` (FORCE: it applies to the owner too; superusers bypass RLS, so the
 * service should run as an ordinary role). The chain tables (`entries`, `head`,
 * `projection_state`) are deliberately global: there is ONE chain across tenants.
 */
export const LEDGER_MIGRATIONS: Migration[] = [
  {
    id: '0001-ledger-chain',
    up: `
CREATE TABLE ledger.entries (
  position     bigint PRIMARY KEY CHECK (position >= 0),
  seq          bigint NOT NULL UNIQUE CHECK (seq > 0),
  event_id     text   NOT NULL,
  source       text   NOT NULL,
  type         text   NOT NULL,
  tenant       text   NOT NULL,
  subject      text   NOT NULL,
  time         text   NOT NULL,
  event_digest text   NOT NULL,
  prev_hash    text   NOT NULL,
  entry_hash   text   NOT NULL UNIQUE,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entries_tenant_seq ON ledger.entries (tenant, seq);
CREATE TABLE ledger.head (
  id         smallint PRIMARY KEY CHECK (id = 1),
  size       bigint NOT NULL,
  last_seq   bigint NOT NULL,
  head_hash  text   NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ledger.head (id, size, last_seq, head_hash) VALUES (1, 0, 0, 'sha256:${'0'.repeat(64)}') ON CONFLICT DO NOTHING;
`,
  },
  {
    id: '0002-ledger-projections',
    up: `
CREATE TABLE ledger.projection_state (
  name       text PRIMARY KEY,
  version    integer NOT NULL,
  last_seq   bigint  NOT NULL,
  rebuilt_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ledger.cases (
  tenant text NOT NULL, case_id text NOT NULL,
  status text NOT NULL, trigger jsonb, intent jsonb, opened_at text, opened_by text, opened_event_id text,
  outcome text, code text, message text, closed_at text, first_seq bigint NOT NULL,
  PRIMARY KEY (tenant, case_id)
);
CREATE TABLE ledger.snapshots (
  tenant text NOT NULL, digest text NOT NULL,
  size bigint, media_type text, source text, object_name text, provenance jsonb,
  captured_by text, captured_at text, event_id text, first_seq bigint NOT NULL,
  PRIMARY KEY (tenant, digest)
);
CREATE TABLE ledger.builds (
  tenant text NOT NULL, build_id text NOT NULL,
  case_id text, task_id text, status text NOT NULL, snapshot_set_root text, inputs jsonb, pipeline_version text,
  started_at text, finished_at text, pack_digest text, pack_size bigint, pack_media_type text, manifest_digest text,
  evidence_digest text, provenance jsonb, provenance_digest text, failure_stage text, failure_code text, failure_message text,
  first_seq bigint NOT NULL,
  PRIMARY KEY (tenant, build_id)
);
CREATE INDEX builds_case ON ledger.builds (tenant, case_id);
CREATE INDEX builds_pack ON ledger.builds (tenant, pack_digest);
CREATE TABLE ledger.build_stages (
  tenant text NOT NULL, build_id text NOT NULL, stage text NOT NULL,
  case_id text, outcome text NOT NULL, stats jsonb, code text, message text, at text NOT NULL, seq bigint NOT NULL,
  PRIMARY KEY (tenant, build_id, stage)
);
CREATE TABLE ledger.evidence (
  tenant text NOT NULL, build_id text NOT NULL,
  case_id text, passed boolean NOT NULL, evidence_digest text NOT NULL, rules_evaluated integer NOT NULL,
  rules_passed integer NOT NULL, rules_failed integer NOT NULL, truncated integer NOT NULL, failures jsonb NOT NULL, recorded_at text NOT NULL,
  PRIMARY KEY (tenant, build_id)
);
CREATE TABLE ledger.releases (
  tenant text NOT NULL, release_id text NOT NULL,
  case_id text, task_id text, env text NOT NULL, channel text NOT NULL, status text NOT NULL, pack_digest text,
  checks jsonb, verified_at text, refused_code text, refused_message text, refused_at text,
  version integer, pack_size bigint, kid text, expires_at text, notice_digest text, previous jsonb,
  activated_at text, channel_advanced_at text, first_seq bigint NOT NULL,
  PRIMARY KEY (tenant, release_id)
);
CREATE INDEX releases_case ON ledger.releases (tenant, case_id);
CREATE INDEX releases_channel ON ledger.releases (tenant, env, channel, version);
CREATE TABLE ledger.consumers (
  tenant text NOT NULL, consumer_id text NOT NULL, event_key text NOT NULL,
  release_id text, env text NOT NULL, channel text NOT NULL, version integer, pack_digest text,
  outcome text NOT NULL, code text, message text, at text NOT NULL, seq bigint NOT NULL,
  PRIMARY KEY (tenant, consumer_id, event_key)
);
CREATE INDEX consumers_release ON ledger.consumers (tenant, release_id);
CREATE INDEX consumers_channel_pack ON ledger.consumers (tenant, env, channel, pack_digest);
`,
  },
  {
    id: '0003-ledger-projections-rls',
    up: `
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['cases', 'snapshots', 'builds', 'build_stages', 'evidence', 'releases', 'consumers'] LOOP
    EXECUTE format('ALTER TABLE ledger.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE ledger.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON ledger.%I USING (tenant = current_setting(''koa.tenant'', true)) WITH CHECK (tenant = current_setting(''koa.tenant'', true))', t || '_tenant_isolation', t);
  END LOOP;
END $$;
`,
  },
  {
    id: '0004-ledger-pending',
    up: `
-- deliveries that arrived ahead of a message that may still become an entry (another replica's
-- batch, a retried delivery): kept here, committed with their delivery, and appended to the chain
-- right after the message they wait for (appendToLedger). Global like the chain tables.
CREATE TABLE ledger.pending (
  seq       bigint PRIMARY KEY CHECK (seq > 0),
  subject   text   NOT NULL,
  message   text   NOT NULL,
  parked_at timestamptz NOT NULL DEFAULT now()
);
`,
  },
];
