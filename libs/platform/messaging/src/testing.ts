// @koa/platform/messaging/testing — fakes and contract suites for tests (never for production code).
import type { InboxStore } from './inbox';

/**
 * A behavioural fake of `InboxStore`: same semantics as `PgInboxStore` (run once per
 * (consumer, key) to completion; failure records nothing; concurrent callers for one key are
 * serialised), in memory. `tx` passed to `work` is undefined.
 */
export class MemoryInboxStore implements InboxStore {
  private readonly done = new Set<string>();
  private readonly locks = new Map<string, Promise<void>>();

  async runOnce<T>(consumer: string, key: string, work: (tx: unknown) => Promise<T>): Promise<{ duplicate: true } | { duplicate: false; value: T }> {
    const k = JSON.stringify([consumer, key]);
    for (let l = this.locks.get(k); l; l = this.locks.get(k)) await l;
    if (this.done.has(k)) return { duplicate: true };
    let release!: () => void;
    this.locks.set(k, new Promise<void>((r) => (release = r)));
    try {
      const value = await work(undefined);
      this.done.add(k);
      return { duplicate: false, value };
    } finally {
      this.locks.delete(k);
      release();
    }
  }

  /** whether (consumer, key) was processed */
  has(consumer: string, key: string): boolean {
    return this.done.has(JSON.stringify([consumer, key]));
  }

  get size(): number {
    return this.done.size;
  }
}

/**
 * The ONE contract every `InboxStore` must satisfy (run it against each implementation).
 *
 * ```ts
 * inboxStoreContract('PgInboxStore', async () => ({ store, teardown }));
 * ```
 */
export function inboxStoreContract(name: string, setup: () => Promise<{ store: InboxStore; teardown?: () => Promise<void> }>): void {
  describe(`InboxStore contract: ${name}`, () => {
    let store: InboxStore;
    let teardown: (() => Promise<void>) | undefined;
    let n = 0;
    const consumer = () => `c${Date.now().toString(36)}_${++n}`;

    beforeAll(async () => {
      ({ store, teardown } = await setup());
    });
    afterAll(async () => {
      await teardown?.();
    });

    it('runs work the first time and returns its value', async () => {
      const r = await store.runOnce(consumer(), '/koa/x#1', async () => 42);
      expect(r).toEqual({ duplicate: false, value: 42 });
    });

    it('reports a duplicate the second time and does not run work', async () => {
      const c = consumer();
      let runs = 0;
      await store.runOnce(c, '/koa/x#2', async () => ++runs);
      const again = await store.runOnce(c, '/koa/x#2', async () => ++runs);
      expect(again).toEqual({ duplicate: true });
      expect(runs).toBe(1);
    });

    it('keeps consumers apart: the same key for another consumer runs', async () => {
      const a = await store.runOnce(consumer(), '/koa/x#3', async () => 'a');
      const b = await store.runOnce(consumer(), '/koa/x#3', async () => 'b');
      expect([a, b]).toEqual([{ duplicate: false, value: 'a' }, { duplicate: false, value: 'b' }]);
    });

    it('records nothing when work fails: the error propagates and a retry runs', async () => {
      const c = consumer();
      const boom = new Error('transient');
      await expect(store.runOnce(c, '/koa/x#4', async () => { throw boom; })).rejects.toBe(boom);
      const retry = await store.runOnce(c, '/koa/x#4', async () => 'ok');
      expect(retry).toEqual({ duplicate: false, value: 'ok' });
    });

    it('runs work exactly once under concurrent calls for one key', async () => {
      const c = consumer();
      let runs = 0;
      const results = await Promise.all(
        Array.from({ length: 5 }, () =>
          store.runOnce(c, '/koa/x#5', async () => {
            runs++;
            await new Promise((r) => setImmediate(r));
            return runs;
          }),
        ),
      );
      expect(runs).toBe(1);
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(results.filter((r) => r.duplicate)).toHaveLength(4);
    });

    it('has no time limit: keys stay recorded across many other keys', async () => {
      const c = consumer();
      for (let i = 0; i < 50; i++) await store.runOnce(c, `/koa/y#${i}`, async () => i);
      const again = await store.runOnce(c, '/koa/y#0', async () => -1);
      expect(again).toEqual({ duplicate: true });
    });
  });
}
