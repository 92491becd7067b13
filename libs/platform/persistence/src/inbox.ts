import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
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
  private readCommitted = false;

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
        const [row] = (await m.query(`SHOW transaction_isolation`)) as Array<{ transaction_isolation?: string }>;
        this.readCommitted = row?.transaction_isolation === 'read committed';
      });
    } catch (e) {
      throw unavailable(e, `inbox ensureSchema ${this.schema}`);
    }
  }

  /**
   * True once `ensureSchema` has seen that this store's transactions run under READ COMMITTED
   * (PostgreSQL's default; no `isolationLevel` on the data source): every statement then sees what
   * was committed before it began, so the JetStream transport may begin a batch's transaction and
   * record its keys while the previous batch commits, running its handlers only after that commit
   * (docs/messaging.md §3 "Overlapping batches"). False before `ensureSchema` or under a stricter
   * level: the transport then begins each batch only after the previous one committed.
   */
  get statementSnapshots(): boolean {
    return this.readCommitted && !('isolationLevel' in this.dataSource.options && this.dataSource.options.isolationLevel);
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

  /**
   * One transaction for a batch of deliveries (the contract is `InboxStore.runBatch` in
   * `@koa/platform/messaging`): `START TRANSACTION` and one `INSERT ... SELECT unnest(ARRAY[keys])
   * ON CONFLICT DO NOTHING RETURNING key` in one round trip record every new key (keys already recorded are duplicates; a key
   * another open transaction holds is waited for); per new key, in order, `work(i, manager)`
   * runs inside a savepoint that is only opened when the handler issues its first query (a
   * handler that does not touch the database costs no round trip); a throw rolls back to the
   * savepoint and deletes that key; one `COMMIT`. Begin/record/commit failure ⇒
   * `DATABASE_UNAVAILABLE`, nothing recorded.
   */
  async runBatch<T>(
    consumer: string,
    keys: readonly string[],
    work: (index: number, tx: unknown) => Promise<T>,
  ): Promise<Array<{ status: 'duplicate' } | { status: 'done'; value: T } | { status: 'failed'; error: unknown }>> {
    const out: Array<{ status: 'duplicate' } | { status: 'done'; value: T } | { status: 'failed'; error: unknown }> = [];
    if (keys.length === 0) return out;
    const qr = this.dataSource.createQueryRunner();
    const query = qr.query.bind(qr) as QueryRunner['query'];
    let savepoint = false;
    try {
      let fresh: Set<string>;
      try {
        fresh = await this.beginAndRecord(qr, consumer, keys);
      } catch (e) {
        throw unavailable(e, `inbox record batch of ${keys.length} for ${consumer}`);
      }
      // the savepoint is opened lazily by the handler's first statement on this query runner
      qr.query = (async (...args: Parameters<QueryRunner['query']>) => {
        if (!savepoint) {
          savepoint = true;
          await query('SAVEPOINT koa_inbox_item');
        }
        return query(...args);
      }) as QueryRunner['query'];
      for (let i = 0; i < keys.length; i++) {
        if (!fresh.delete(keys[i])) {
          out.push({ status: 'duplicate' });
          continue;
        }
        savepoint = false;
        try {
          const value = await work(i, qr.manager as EntityManager);
          if (savepoint) await query('RELEASE SAVEPOINT koa_inbox_item');
          out.push({ status: 'done', value });
        } catch (error) {
          try {
            if (savepoint) await query('ROLLBACK TO SAVEPOINT koa_inbox_item; RELEASE SAVEPOINT koa_inbox_item');
            await query(`DELETE FROM ${this.table} WHERE consumer = $1 AND key = $2`, [consumer, keys[i]]);
          } catch (e) {
            throw unavailable(e, `inbox roll back ${consumer} ${keys[i]}`);
          }
          out.push({ status: 'failed', error });
        }
      }
      delete (qr as { query?: unknown }).query; // back to the prototype's method
      try {
        await qr.commitTransaction();
      } catch (e) {
        throw unavailable(e, `inbox commit batch of ${keys.length} for ${consumer}`);
      }
      return out;
    } catch (e) {
      delete (qr as { query?: unknown }).query;
      if (qr.isTransactionActive) await qr.rollbackTransaction().catch(() => undefined);
      throw e;
    } finally {
      await qr.release().catch(() => undefined);
    }
  }

  /**
   * `START TRANSACTION` and the batch's key insert in ONE round trip (a simple-protocol query, the
   * keys as escaped literals), with TypeORM's transaction bookkeeping kept exact: its
   * `startTransaction()` runs with its own `START TRANSACTION` intercepted. Returns the new keys.
   * (With an isolation level configured on the data source, the plain two-round-trip form.)
   */
  private async beginAndRecord(qr: QueryRunner, consumer: string, keys: readonly string[]): Promise<Set<string>> {
    const client = (await qr.connect()) as { query(text: string): Promise<unknown>; escapeLiteral?(value: string): string };
    const { escapeLiteral } = client;
    if (!('isolationLevel' in this.dataSource.options && this.dataSource.options.isolationLevel) && typeof escapeLiteral === 'function') {
      const literal = (v: string) => escapeLiteral.call(client, v);
      const query = qr.query.bind(qr) as (...a: unknown[]) => Promise<unknown>;
      qr.query = ((text: string, ...rest: unknown[]) => (text === 'START TRANSACTION' ? Promise.resolve([]) : query(text, ...rest))) as QueryRunner['query'];
      try {
        await qr.startTransaction();
      } finally {
        delete (qr as { query?: unknown }).query;
      }
      const results = (await client.query(
        `START TRANSACTION; INSERT INTO ${this.table} (consumer, key) SELECT ${literal(consumer)}, k FROM unnest(ARRAY[${keys.map(literal).join(', ')}]::text[]) AS k ON CONFLICT DO NOTHING RETURNING key`,
      )) as Array<{ rows: Array<{ key: string }> }>;
      return new Set(results[1].rows.map((r) => r.key));
    }
    await qr.startTransaction();
    const rows: Array<{ key: string }> = await qr.query(
      `INSERT INTO ${this.table} (consumer, key) SELECT $1, k FROM unnest($2::text[]) AS k ON CONFLICT DO NOTHING RETURNING key`,
      [consumer, [...keys]],
    );
    return new Set(rows.map((r) => r.key));
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
