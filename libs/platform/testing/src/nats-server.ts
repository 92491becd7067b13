import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free loopback TCP port (bound then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** How long a starting nats-server may take to log "Server is ready". */
const READY_TIMEOUT_MS = 30_000;

export interface NatsServerOptions {
  /** extra nats-server config (NATS conf syntax) appended to the generated file: users, permissions, limits */
  readonly config?: string;
  /** fixed port (default: a free random loopback port) */
  readonly port?: number;
  /** reuse a store directory (for restart); default a new temp dir */
  readonly storeDir?: string;
  readonly binary?: string;
}

/**
 * A private `nats-server` with JetStream on a random loopback port and a temporary store,
 * started per test suite so tests can kill, restart and configure it (never the shared server).
 */
export class PrivateNatsServer {
  private child?: ChildProcess;
  private log = '';

  private constructor(
    readonly port: number,
    readonly storeDir: string,
    private readonly configFile: string,
    private readonly binary: string,
    private readonly ownsStore: boolean,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** What the server wrote to stderr (for assertions on errors and debugging failures). */
  get output(): string {
    return this.log;
  }

  static async start(options: NatsServerOptions = {}): Promise<PrivateNatsServer> {
    const ownsStore = !options.storeDir;
    const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), 'koa-nats-'));
    const configFile = join(storeDir, 'server.conf');
    // A free port is only free until someone binds it: another suite's server or service may take it
    // between freePort() and nats-server's bind. Then the server exits "address already in use" and we
    // start it again on another free port (setup, not a retried test; never with a fixed port).
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await freePort());
      writeFileSync(
        configFile,
        [
          `listen: 127.0.0.1:${port}`,
          `jetstream { store_dir: ${JSON.stringify(storeDir)}, max_memory_store: 268435456, max_file_store: 4294967296 }`,
          'max_payload: 8388608',
          options.config ?? '',
        ].join('\n'),
      );
      const server = new PrivateNatsServer(port, storeDir, configFile, options.binary ?? 'nats-server', ownsStore);
      try {
        await server.launch();
        return server;
      } catch (e) {
        const collided = options.port === undefined && /address already in use/i.test(server.output);
        if (!collided || attempt >= 5) {
          if (ownsStore) rmSync(storeDir, { recursive: true, force: true });
          throw e;
        }
      }
    }
  }

  private async launch(): Promise<void> {
    this.log = '';
    const child = spawn(this.binary, ['-c', this.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr?.on('data', (b: Buffer) => {
      if (this.log.length < 200_000) this.log += b.toString();
    });
    try {
      // generous: a loaded 2-core machine, and a restart after SIGKILL recovers the store first
      await new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`nats-server did not become ready in ${READY_TIMEOUT_MS / 1000}s:\n${this.log}`)), READY_TIMEOUT_MS);
        const poll = setInterval(() => {
          if (/Server is ready/.test(this.log)) {
            clearTimeout(deadline);
            clearInterval(poll);
            resolve();
          }
        }, 20);
        child.once('exit', (code) => {
          clearTimeout(deadline);
          clearInterval(poll);
          reject(new Error(`nats-server exited with ${code}:\n${this.log}`));
        });
      });
    } catch (e) {
      // never leave a server that did not become ready running behind the failed suite
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      this.child = undefined;
      throw e;
    } finally {
      child.removeAllListeners('exit');
    }
  }

  /** Stops the process; `signal` SIGKILL simulates a crash. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
    this.child = undefined;
  }

  /** Stops and starts again on the same port and store: JetStream state survives. */
  async restart(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await this.launch();
  }

  /** Stops the server and removes its temporary store. */
  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    if (this.ownsStore) rmSync(this.storeDir, { recursive: true, force: true });
  }
}
