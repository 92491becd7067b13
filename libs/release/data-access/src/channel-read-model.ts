import type { DataSource, EntityManager } from '@koa/platform/persistence';
import { assertToken, type EventByType } from '@koa/contracts';
import { RELEASE_SCHEMA } from './migrations';

/** One channel's status as served by `GET /v1/tenants/:tenant/channels/:env/:channel`. */
export interface ChannelStatus {
  readonly tenant: string;
  readonly env: string;
  readonly channel: string;
  readonly version: number;
  readonly releaseId: string;
  readonly caseId: string;
  readonly packDigest: string;
  readonly packSize: number;
  readonly kid: string;
  /** the signed release notice (compact JWS) of the active release */
  readonly notice: string;
  readonly expiresAt: string;
  readonly activatedAt: string;
  readonly previousReleaseId: string | null;
}

type ReleaseActivated = EventByType<'io.koa.release.release.activated.v1'>;

interface Row {
  tenant: string;
  env: string;
  channel: string;
  version: number;
  release_id: string;
  case_id: string;
  pack_digest: string;
  pack_size: string | number;
  kid: string;
  notice: string;
  expires_at: Date;
  activated_at: Date;
  previous_release_id: string | null;
}

/**
 * The `release.channels` read model: the active release per tenant + env + channel, projected from
 * `ReleaseActivated` events. The channel aggregate in the event log is the truth; this table can
 * be truncated and rebuilt by replaying (`apply` is idempotent and monotonic: a row only moves to
 * a higher version, so replay order and duplicates cannot move a channel backwards).
 *
 * Every statement runs in a transaction with `koa.tenant` set, so the row-level-security policy
 * of the table confines it to that tenant.
 */
export class ChannelReadModel {
  /** Projection identity (STYLE.md §8): bump `version` to force a rebuild. */
  static readonly projection = { name: 'release.channels', version: 1 } as const;

  constructor(private readonly dataSource: DataSource) {}

  /** True for the events this projection folds. */
  canHandle(event: { type: string }): event is ReleaseActivated {
    return event.type === 'io.koa.release.release.activated.v1';
  }

  /**
   * Folds one `ReleaseActivated`: upsert unless the stored version is already ≥ the event's.
   * Returns true if the row changed. Pass `manager` to write inside an existing transaction
   * (e.g. the consumer inbox transaction, `KoaEventContext.tx`) so the row commits with it.
   */
  async apply(event: ReleaseActivated, manager?: EntityManager): Promise<boolean> {
    const d = event.data;
    return this.withTenant(event.tenantid, manager, async (m) => {
      const rows: unknown[] = await m.query(
        `INSERT INTO ${RELEASE_SCHEMA}.channels AS c
           (tenant, env, channel, version, release_id, case_id, pack_digest, pack_size, kid, notice, expires_at, activated_at, previous_release_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (tenant, env, channel) DO UPDATE SET
           version = EXCLUDED.version, release_id = EXCLUDED.release_id, case_id = EXCLUDED.case_id,
           pack_digest = EXCLUDED.pack_digest, pack_size = EXCLUDED.pack_size, kid = EXCLUDED.kid,
           notice = EXCLUDED.notice, expires_at = EXCLUDED.expires_at, activated_at = EXCLUDED.activated_at,
           previous_release_id = EXCLUDED.previous_release_id
         WHERE c.version < EXCLUDED.version
         RETURNING version`,
        [event.tenantid, d.env, d.channel, d.version, d.releaseId, d.caseId, d.packDigest, d.packSize, d.kid, d.notice, d.expiresAt, event.time, d.previous?.releaseId ?? null],
      );
      return rows.length > 0;
    });
  }

  /** The channel's status, or `undefined` when no release was activated on it. */
  async get(tenant: string, env: string, channel: string): Promise<ChannelStatus | undefined> {
    assertToken('env', env);
    assertToken('channel', channel);
    return this.withTenant(tenant, undefined, async (m) => {
      const rows: Row[] = await m.query(`SELECT * FROM ${RELEASE_SCHEMA}.channels WHERE tenant = $1 AND env = $2 AND channel = $3`, [tenant, env, channel]);
      return rows[0] ? toStatus(rows[0]) : undefined;
    });
  }

  /** Empties the read model (before a rebuild by replay). */
  async truncate(): Promise<void> {
    await this.dataSource.query(`TRUNCATE ${RELEASE_SCHEMA}.channels`);
  }

  private async withTenant<T>(tenant: string, manager: EntityManager | undefined, fn: (m: EntityManager) => Promise<T>): Promise<T> {
    assertToken('tenant', tenant);
    const run = async (m: EntityManager): Promise<T> => {
      // transaction-local: the RLS policy sees this tenant only, until the transaction ends
      await m.query(`SELECT set_config('koa.tenant', $1, true)`, [tenant]);
      return fn(m);
    };
    return manager?.queryRunner?.isTransactionActive ? run(manager) : this.dataSource.transaction(run);
  }
}

const iso = (d: Date | string): string => (d instanceof Date ? d : new Date(d)).toISOString();

function toStatus(r: Row): ChannelStatus {
  return {
    tenant: r.tenant,
    env: r.env,
    channel: r.channel,
    version: Number(r.version),
    releaseId: r.release_id,
    caseId: r.case_id,
    packDigest: r.pack_digest,
    packSize: Number(r.pack_size),
    kid: r.kid,
    notice: r.notice,
    expiresAt: iso(r.expires_at),
    activatedAt: iso(r.activated_at),
    previousReleaseId: r.previous_release_id,
  };
}
