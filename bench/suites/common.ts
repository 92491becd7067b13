/**
 * Helpers shared by the suites: bounded pipelining, peak RSS of child processes, a registry of
 * things to stop if the run is aborted, and a private service stack per service-level suite.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { PrivateNatsServer } from '@koa/platform/testing';
// tools/ is an Nx application project; its stack launcher is the supported way to run the services
// as processes (test/ uses it the same way)
// eslint-disable-next-line @nx/enforce-module-boundaries
import { removeStackLogs, startStack, type ServiceName, type Stack, type StackOptions } from '@koa/tools/stack';
import type { BenchContext } from '../harness';

/** Runs `fn` over items with at most `window` in flight, keeping result order. */
export async function pipelined<T, R>(items: readonly T[], window: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, items.length) }, worker));
  return out;
}

/** `VmHWM` (peak resident set) of a process, bytes; undefined if it cannot be read. */
export function vmHwmBytes(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Current `VmRSS` of a process, bytes. */
export function vmRssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resets a process' peak RSS to its current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux ≥ 4.0),
 * so each round's VmHWM is that round's peak. Returns false where the kernel refuses.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

type Stopper = () => Promise<unknown>;
const stoppers = new Set<Stopper>();

/** Registers something to stop if the run is aborted (deadline); returns the unregister function. */
export function onAbort(stop: Stopper): () => void {
  stoppers.add(stop);
  return () => stoppers.delete(stop);
}

/** Stops everything still registered (each bounded by `timeoutMs`). */
export async function stopAll(timeoutMs = 10_000): Promise<void> {
  await Promise.all(
    [...stoppers].map((s) => Promise.race([s().catch(() => undefined), new Promise((r) => setTimeout(r, timeoutMs).unref())])),
  );
  stoppers.clear();
}

/** A service stack of its own: a private nats-server (so no other suite's events reach it) and a fresh database. */
export interface SuiteStack {
  readonly stack: Stack;
  readonly nats: PrivateNatsServer;
  readonly databaseUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts `services` as real processes (tools/stack) against a private nats-server and a fresh
 * database of the bench's PostgreSQL. Start-up is not measured: suites measure steady state.
 */
export async function startSuiteStack(ctx: BenchContext, name: string, services: readonly ServiceName[], extra: Pick<StackOptions, 'serviceEnv' | 'extraEnv'> = {}): Promise<SuiteStack> {
  const nats = await PrivateNatsServer.start();
  let stack: Stack | undefined;
  const databaseUrl = await ctx.pgUrl(name);
  const t = Date.now();
  const stop = async (): Promise<void> => {
    unregister();
    const exits = await stack?.stop(15_000);
    await nats.dispose();
    const bad = Object.entries(exits ?? {}).filter(([, e]) => e.code !== 0);
    if (bad.length > 0) ctx.log(`  ${name}: services exited uncleanly: ${bad.map(([n, e]) => `${n} code ${e.code} signal ${e.signal}`).join(', ')}; logs kept in ${stack?.logDir}`);
    // logs are only worth keeping when something went wrong
    else if (stack) removeStackLogs(stack);
  };
  const unregister = onAbort(stop);
  try {
    stack = await startStack({ natsUrl: nats.url, databaseUrl, services, logLevel: 'warn', readyTimeoutMs: 120_000, ...extra });
  } catch (e) {
    await stop();
    throw e;
  }
  ctx.log(`  ${name}: ${services.join(', ')} ready in ${((Date.now() - t) / 1000).toFixed(1)} s (logs ${stack.logDir})`);
  return { stack, nats, databaseUrl, stop };
}

/** A tiny deterministic PRNG (mulberry32) so generated inputs are the same every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = 'pump valve seal bearing motor fan belt filter gasket sensor relay switch breaker panel cable hose nozzle gauge meter tank boiler chiller compressor turbine rotor stator shaft coupling impeller housing flange bolt weld joint pipe duct vent damper louver grille coil'.split(' ');

/** Deterministic plain-text words (a small vocabulary, like real maintenance text). */
export function words(rand: () => number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)]);
  return out.join(' ');
}
