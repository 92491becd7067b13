import type { DataSource, EntityManager } from 'typeorm';
import { KoaRefusal } from '@koa/contracts';
import { assertSchemaName } from './database';

/**
 * The Postgres inbox: idempotency by (consumer, key) with NO time limit, for the JetStream
 * transport of `@koa/platform/messaging` (it satisfies that lib's `InboxStore` interface
 * structurally; data-access libs do not import the messaging lib).
 *
 * Table `<schema>.koa_inbox(consumer text, key text, processed_at timestamptz default now(),
 * primary key (consumer, key))`. `runOnce` is ONE transaction:
 * `INSERT ... ON CONFLICT DO NOTHING RETURNING 1`; no row ⇒ rollback, `{ duplicate: true }`;
 * else `work(manager)` (write your read model through `manager`, so it commits with the key),
 * then commit. If `work` throws, everything rolls back and the error propagates unchanged.
 * A concurrent call for the same key blocks on the row lock and then sees the outcome.
 *
 * ```ts
 * const inbox = new PgInboxStore(dataSource, 'orgo');
 * await inbox.ensureSchema();
 * new JetStreamTransport({ messaging, serviceName: 'orgo-control', consumers, inbox });
 * ```
 */
export class PgInboxStore {
  private readonly table: string;

  constructor(
    private readonly dataSource: DataSource,
    readonly schema: string,
  ) {
    assertSchemaName(schema);
    this.table = `"${schema}".koa_inbox`;
  }

  /** Creates the schema and `koa_inbox` if missing (idempotent; safe for replicas booting together). */
  async ensureSchema(): Promise<void> {
    try {
      await this.dataSource.transaction(async (m) => {
        await m.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`koa_inbox:${this.schema}`]);
        await m.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
        await m.query(
          `CREATE TABLE IF NOT EXISTS ${this.table} (consumer text NOT NULL, key text NOT NULL, processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, key))`,
        );
      });
    } catch (e) {
      throw unavailable(e, `inbox ensureSchema ${this.schema}`);
    }
  }

  async runOnce<T>(consumer: string, key: string, work: (tx: unknown) => Promise<T>): Promise<{ duplicate: true } | { duplicate: false; value: T }> {
    const qr = this.dataSource.createQueryRunner();
    try {
      let inserted: unknown[];
      try {
        await qr.connect();
        await qr.startTransaction();
        inserted = await qr.query(`INSERT INTO ${this.table} (consumer, key) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1 AS inserted`, [consumer, key]);
      } catch (e) {
        throw unavailable(e, `inbox record ${consumer} ${key}`);
      }
      if (inserted.length === 0) {
        await qr.rollbackTransaction();
        return { duplicate: true };
      }
      const value = await work(qr.manager as EntityManager);
      try {
        await qr.commitTransaction();
      } catch (e) {
        throw unavailable(e, `inbox commit ${consumer} ${key}`);
      }
      return { duplicate: false, value };
    } catch (e) {
      if (qr.isTransactionActive) await qr.rollbackTransaction().catch(() => undefined);
      throw e;
    } finally {
      await qr.release().catch(() => undefined);
    }
  }

  /** Whether (consumer, key) was processed. */
  async has(consumer: string, key: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM ${this.table} WHERE consumer = $1 AND key = $2`, [consumer, key]);
    return rows.length > 0;
  }
}

function unavailable(e: unknown, what: string): KoaRefusal {
  if (e instanceof KoaRefusal) return e;
  return new KoaRefusal('DATABASE_UNAVAILABLE', `${what}: ${(e as Error)?.message ?? e}`, {}, { cause: e });
}
