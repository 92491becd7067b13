import type { Migration } from '@koa/platform/persistence';

/** The Postgres schema konnaxion-release owns. */
export const RELEASE_SCHEMA = 'release';

/**
 * Migrations of the `release` schema (applied by `PersistenceModule` / `openDataSource`, in order,
 * once). Never edit a shipped one; append.
 *
 * `channels` is a read model of the channel aggregates (the event log is the truth): one row per
 * tenant + env + channel, holding the active release and its signed notice. Tenant isolation is
 * enforced by row-level security: every statement runs with `koa.tenant` set (see
 * `ChannelReadModel`), and the policy only shows that tenant's rows. `FORCE` makes it apply to the
 * table owner too (a PostgreSQL superuser still bypasses RLS: run the service as a plain role).
 */
export const RELEASE_MIGRATIONS: readonly Migration[] = [
  {
    id: '0001_channels',
    up: `
      CREATE TABLE channels (
        tenant       text        NOT NULL,
        env          text        NOT NULL,
        channel      text        NOT NULL,
        version      integer     NOT NULL CHECK (version > 0),
        release_id   text        NOT NULL,
        case_id      text        NOT NULL,
        pack_digest  text        NOT NULL,
        pack_size    bigint      NOT NULL,
        kid          text        NOT NULL,
        notice       text        NOT NULL,
        expires_at   timestamptz NOT NULL,
        activated_at timestamptz NOT NULL,
        previous_release_id text,
        PRIMARY KEY (tenant, env, channel)
      );
      ALTER TABLE channels ENABLE ROW LEVEL SECURITY;
      ALTER TABLE channels FORCE ROW LEVEL SECURITY;
      CREATE POLICY channels_tenant_isolation ON channels
        USING (tenant = current_setting('koa.tenant', true))
        WITH CHECK (tenant = current_setting('koa.tenant', true));
    `,
  },
];
