/**
 * Polls `probe` until it returns without throwing (and, if it returns a boolean, returns true),
 * or the deadline passes; then rethrows the last failure. Never a fixed sleep.
 *
 * The default bound (30 s) is generous on purpose: what tests wait for involves NATS, Postgres or
 * other processes, and on a loaded 2-core CI machine those take many times longer than on an idle
 * one. A passing probe returns at once, so the bound only delays a real failure's report.
 */
export async function eventually<T>(probe: () => T | Promise<T>, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== false) return value;
      last = new Error(`${options.what ?? 'condition'} is still false`);
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const err = new Error(`eventually: ${options.what ?? 'condition'} not met within ${timeoutMs} ms: ${(last as Error)?.message ?? last}`);
      (err as Error & { cause?: unknown }).cause = last;
      throw err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A unique, subject-token-safe name for per-test resources (tenants, consumers, streams). */
export const uniqueName = (prefix: string): string =>
  `${prefix}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e9).toString(36)}`;
