import { DIGEST_PATTERN, KoaRefusal, assertToken, type EventByType } from '@koa/contracts';
import type { DataSource, EntityManager } from '@koa/platform/persistence';
import { INGEST_SCHEMA } from './migrations';

type SnapshotCapturedEvent = EventByType<'io.koa.ingest.snapshot.captured.v1'>;
type Provenance = SnapshotCapturedEvent['data']['provenance'];

/** One captured snapshot as served by `GET /v1/tenants/:tenant/snapshots/:hex`. */
export interface SnapshotRecord {
  readonly tenant: string;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  readonly source: string;
  /** entry name in the `koa-snapshots` object store: `<tenant>/<hex>` */
  readonly objectName: string;
  readonly provenance: Provenance;
  /** who pushed it (the envelope `actor`) */
  readonly actor: string;
  readonly reason?: string;
  /** id of the SnapshotCaptured event */
  readonly eventId: string;
  readonly capturedAt: string;
}

/** Listing filter; results are newest first, paged by `before` (an ISO time, exclusive). */
export interface SnapshotQuery {
  readonly source?: string;
  /** 1..500, default 100 */
  readonly limit?: number;
  readonly before?: string;
}

interface Row {
  tenant: string;
  digest: string;
  size: string | number;
  media_type: string;
  source: string;
  object_name: string;
  provenance: Provenance;
  actor: string;
  reason: string | null;
  event_id: string;
  captured_at: Date;
}

/**
 * The `ingest.snapshots` read model, projected from `SnapshotCaptured` events (STYLE.md §8:
 * `{ name, version, canHandle, apply }`). `apply` is idempotent (first capture wins, a replay or
 * redelivery changes nothing), so the table can be truncated and rebuilt by replaying the
 * `snapshot` aggregates. Every statement runs in a transaction with `koa.tenant` set, so the
 * table's row-level-security policy confines it to that tenant.
 */
export class SnapshotReadModel {
  static readonly projection = { name: 'ingest.snapshots', version: 1 } as const;

  constructor(private readonly dataSource: DataSource) {}

  canHandle(event: { type: string }): event is SnapshotCapturedEvent {
    return event.type === 'io.koa.ingest.snapshot.captured.v1';
  }

  /**
   * Folds one SnapshotCaptured. Pass `manager` to run inside an existing transaction (the
   * consumer's inbox transaction, so that the row and the inbox entry commit together).
   * Returns true if a row was inserted.
   */
  async apply(event: SnapshotCapturedEvent, manager?: EntityManager): Promise<boolean> {
    const d = event.data;
    assertToken('tenant', event.tenantid);
    // ONE statement sets koa.tenant (transaction-local) and inserts: the materialised CTE yields the
    // tenant from set_config, so the row-level-security check on the inserted row runs after it
    const insert = async (m: EntityManager): Promise<boolean> => {
      const rows: unknown[] = await m.query(
        `WITH t AS MATERIALIZED (SELECT set_config('koa.tenant', $1, true) AS tenant)
         INSERT INTO ${INGEST_SCHEMA}.snapshots
           (tenant, digest, size, media_type, source, object_name, source_ref, adapter, provenance, actor, reason, event_id, captured_at)
         SELECT t.tenant, $2, $3::bigint, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13::timestamptz FROM t
         ON CONFLICT (tenant, digest) DO NOTHING
         RETURNING 1`,
        [event.tenantid, d.digest, d.size, d.mediaType, d.source, d.objectName, d.provenance.sourceRef, d.provenance.adapter.name, JSON.stringify(d.provenance), event.actor, event.reason ?? null, event.id, d.provenance.capturedAt],
      );
      return rows.length > 0;
    };
    return manager ? insert(manager) : this.dataSource.transaction(insert);
  }

  /** The snapshot with that digest for the tenant, or undefined. Refuses a malformed digest REQUEST_INVALID. */
  async get(tenant: string, digest: string): Promise<SnapshotRecord | undefined> {
    if (!DIGEST_PATTERN.test(digest)) throw new KoaRefusal('REQUEST_INVALID', `digest ${JSON.stringify(digest.slice(0, 80))} is not sha256:<64 lower-case hex>`, { field: 'digest' });
    return this.withTenant(tenant, undefined, async (m) => {
      const rows: Row[] = await m.query(`SELECT * FROM ${INGEST_SCHEMA}.snapshots WHERE tenant = $1 AND digest = $2`, [tenant, digest]);
      return rows[0] ? toRecord(rows[0]) : undefined;
    });
  }

  /** Which of `digests` the tenant has NOT captured (per the read model), in the given order. */
  async missing(tenant: string, digests: readonly string[]): Promise<string[]> {
    return this.withTenant(tenant, undefined, async (m) => {
      const rows: Array<{ digest: string }> = await m.query(`SELECT digest FROM ${INGEST_SCHEMA}.snapshots WHERE tenant = $1 AND digest = ANY($2::text[])`, [tenant, [...digests]]);
      const have = new Set(rows.map((r) => r.digest));
      return digests.filter((d) => !have.has(d));
    });
  }

  /** The tenant's snapshots, newest first. */
  async list(tenant: string, query: SnapshotQuery = {}): Promise<SnapshotRecord[]> {
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new KoaRefusal('REQUEST_INVALID', `limit ${limit} must be an integer from 1 to 500`, { field: 'limit' });
    if (query.source !== undefined) assertToken('source', query.source);
    if (query.before !== undefined && Number.isNaN(Date.parse(query.before))) throw new KoaRefusal('REQUEST_INVALID', `before ${JSON.stringify(query.before)} is not an ISO time`, { field: 'before' });
    return this.withTenant(tenant, undefined, async (m) => {
      const rows: Row[] = await m.query(
        `SELECT * FROM ${INGEST_SCHEMA}.snapshots
          WHERE tenant = $1 AND ($2::text IS NULL OR source = $2) AND ($3::timestamptz IS NULL OR captured_at < $3)
          ORDER BY captured_at DESC, digest
          LIMIT $4`,
        [tenant, query.source ?? null, query.before ?? null, limit],
      );
      return rows.map(toRecord);
    });
  }

  /** Empties the read model (before a rebuild by replay). */
  async truncate(): Promise<void> {
    await this.dataSource.query(`TRUNCATE ${INGEST_SCHEMA}.snapshots`);
  }

  private async withTenant<T>(tenant: string, manager: EntityManager | undefined, fn: (m: EntityManager) => Promise<T>): Promise<T> {
    assertToken('tenant', tenant);
    const run = async (m: EntityManager) => {
      await m.query(`SELECT set_config('koa.tenant', $1, true)`, [tenant]);
      return fn(m);
    };
    return manager ? run(manager) : this.dataSource.transaction(run);
  }
}

function toRecord(r: Row): SnapshotRecord {
  return {
    tenant: r.tenant,
    digest: r.digest,
    size: Number(r.size),
    mediaType: r.media_type,
    source: r.source,
    objectName: r.object_name,
    provenance: r.provenance,
    actor: r.actor,
    ...(r.reason !== null && { reason: r.reason }),
    eventId: r.event_id,
    capturedAt: (r.captured_at instanceof Date ? r.captured_at : new Date(r.captured_at)).toISOString(),
  };
}
