import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** The server tests create throw-away databases on: `KOA_TEST_PG_URL`, else the machine's local one. */
export const testPgAdminUrl = (): string => process.env['KOA_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ThrowAwayDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

/** Creates a fresh, uniquely named database; `drop()` removes it (forcing other sessions off). */
export async function createThrowAwayDatabase(prefix = 'koa_test'): Promise<ThrowAwayDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`.toLowerCase();
  const adminUrl = testPgAdminUrl();
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
