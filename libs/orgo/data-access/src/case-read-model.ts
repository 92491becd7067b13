import { KoaRefusal, assertToken } from '@koa/contracts';
import { caseView, evolve, initialState, isCaseEvent, type CaseEvent, type CaseState, type CaseView } from '@koa/orgo/domain';
import type { DataSource, EntityManager } from '@koa/platform/persistence';
import { ORGO_SCHEMA } from './migrations';

/** Listing filter; newest first, paged by `before` (ISO time of `openedAt`, exclusive). */
export interface CaseQuery {
  readonly status?: 'open' | 'closed';
  /** 1..500, default 100 */
  readonly limit?: number;
  readonly before?: string;
}

/**
 * The `orgo.cases` read model: the Case state folded from Case events with the domain `evolve`
 * (the same function the decider uses, so the view cannot drift from the aggregate).
 * `{ name, version, canHandle, apply }` (STYLE.md §8); `apply` is idempotent by event id, so the
 * table can be truncated and rebuilt by replaying the `case` aggregates in stream order.
 * Every statement runs with `koa.tenant` set (row-level security).
 */
export class CaseReadModel {
  static readonly projection = { name: 'orgo.cases', version: 1 } as const;

  constructor(private readonly dataSource: DataSource) {}

  canHandle(event: { type: string }): event is CaseEvent {
    return isCaseEvent(event as CaseEvent);
  }

  /**
   * Folds one Case event into its row (inside `manager`'s transaction if given). Returns false when
   * the event was already applied.
   */
  async apply(event: CaseEvent, manager?: EntityManager): Promise<boolean> {
    const caseId = event.subject.slice('case/'.length);
    return this.withTenant(event.tenantid, manager, async (m) => {
      const rows: Array<{ state: CaseState; event_ids: string[] }> = await m.query(
        `SELECT state, event_ids FROM ${ORGO_SCHEMA}.cases WHERE tenant = $1 AND case_id = $2 FOR UPDATE`,
        [event.tenantid, caseId],
      );
      const current = rows[0];
      if (current?.event_ids.includes(event.id)) return false;
      const state = evolve(current ? current.state : initialState(), event);
      if (state.status === 'initial') return false;
      const view = caseView(state);
      const params = [
        event.tenantid, caseId, view.status, view.phase, view.outcome ?? null, view.code ?? null, view.intent.env, view.intent.channel,
        view.intent.snapshotSetRoot, view.trigger.requestedBy, view.trigger.reason, view.trigger.idempotencyKey, view.openedAt,
        view.closedAt ?? null, event.time, JSON.stringify(state), [...(current?.event_ids ?? []), event.id],
      ];
      await m.query(
        `INSERT INTO ${ORGO_SCHEMA}.cases
           (tenant, case_id, status, phase, outcome, code, env, channel, snapshot_set_root, requested_by, reason, idempotency_key, opened_at, closed_at, updated_at, state, event_ids)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17::text[])
         ON CONFLICT (tenant, case_id) DO UPDATE SET
           status = EXCLUDED.status, phase = EXCLUDED.phase, outcome = EXCLUDED.outcome, code = EXCLUDED.code,
           closed_at = EXCLUDED.closed_at, updated_at = EXCLUDED.updated_at, state = EXCLUDED.state, event_ids = EXCLUDED.event_ids`,
        params,
      );
      return true;
    });
  }

  /** The Case view, or undefined. */
  async get(tenant: string, caseId: string): Promise<CaseView | undefined> {
    assertToken('id', caseId);
    return this.withTenant(tenant, undefined, async (m) => {
      const rows: Array<{ state: CaseState }> = await m.query(`SELECT state FROM ${ORGO_SCHEMA}.cases WHERE tenant = $1 AND case_id = $2`, [tenant, caseId]);
      return rows[0] ? caseView(rows[0].state) : undefined;
    });
  }

  /** The tenant's Cases, newest first. */
  async list(tenant: string, query: CaseQuery = {}): Promise<CaseView[]> {
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new KoaRefusal('REQUEST_INVALID', `limit ${limit} must be an integer from 1 to 500`, { field: 'limit' });
    if (query.status !== undefined && query.status !== 'open' && query.status !== 'closed') throw new KoaRefusal('REQUEST_INVALID', `status ${JSON.stringify(query.status)} must be open or closed`, { field: 'status' });
    if (query.before !== undefined && Number.isNaN(Date.parse(query.before))) throw new KoaRefusal('REQUEST_INVALID', `before ${JSON.stringify(query.before)} is not an ISO time`, { field: 'before' });
    return this.withTenant(tenant, undefined, async (m) => {
      const rows: Array<{ state: CaseState }> = await m.query(
        `SELECT state FROM ${ORGO_SCHEMA}.cases
          WHERE tenant = $1 AND ($2::text IS NULL OR status = $2) AND ($3::timestamptz IS NULL OR opened_at < $3)
          ORDER BY opened_at DESC, case_id LIMIT $4`,
        [tenant, query.status ?? null, query.before ?? null, limit],
      );
      return rows.map((r) => caseView(r.state));
    });
  }

  /** Empties the read model (before a rebuild by replay). */
  async truncate(): Promise<void> {
    await this.dataSource.query(`TRUNCATE ${ORGO_SCHEMA}.cases`);
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
