// @koa/platform/messaging/testing — fakes and contract suites for tests (never for production code).
import { KoaRefusal } from '@koa/contracts';
import type { InboxBatchOutcome, InboxStore } from './inbox';

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

  /** Same semantics as `PgInboxStore.runBatch`: keys claimed in order, recorded only at the (single) commit. */
  async runBatch<T>(consumer: string, keys: readonly string[], work: (index: number, tx: unknown) => Promise<T>): Promise<Array<InboxBatchOutcome<T>>> {
    const out: Array<InboxBatchOutcome<T>> = [];
    const claimed = new Map<string, () => void>();
    try {
      for (let i = 0; i < keys.length; i++) {
        const k = JSON.stringify([consumer, keys[i]]);
        if (claimed.has(k)) {
          out.push({ status: 'duplicate' });
          continue;
        }
        for (let l = this.locks.get(k); l; l = this.locks.get(k)) await l;
        if (this.done.has(k)) {
          out.push({ status: 'duplicate' });
          continue;
        }
        let release!: () => void;
        this.locks.set(k, new Promise<void>((r) => (release = r)));
        claimed.set(k, release);
        try {
          out.push({ status: 'done', value: await work(i, undefined) });
        } catch (error) {
          claimed.delete(k);
          this.locks.delete(k);
          release();
          out.push({ status: 'failed', error });
        }
      }
      if (this.failCommits > 0) {
        this.failCommits--;
        throw new KoaRefusal('DATABASE_UNAVAILABLE', `inbox commit batch of ${keys.length} for ${consumer}: commit failure injected by failNextCommit()`);
      }
      for (const k of claimed.keys()) this.done.add(k);
      return out;
    } finally {
      for (const [k, release] of claimed) {
        this.locks.delete(k);
        release();
      }
    }
  }

  private failCommits = 0;

  /** Test hook: the next `count` batch commits fail with `DATABASE_UNAVAILABLE` (nothing recorded). */
  failNextCommit(count = 1): void {
    this.failCommits += count;
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
export interface InboxContractSetup {
  store: InboxStore;
  teardown?: () => Promise<void>;
  /** called by `work` inside a batch with its `tx`: makes THAT batch's commit fail (e.g. a deferred constraint violation) */
  poisonCommit: (tx: unknown) => Promise<void>;
}

export function inboxStoreContract(name: string, setup: () => Promise<InboxContractSetup>): void {
  describe(`InboxStore contract: ${name}`, () => {
    let store: InboxStore;
    let teardown: (() => Promise<void>) | undefined;
    let poisonCommit: InboxContractSetup['poisonCommit'];
    let n = 0;
    const consumer = () => `c${Date.now().toString(36)}_${++n}`;

    beforeAll(async () => {
      ({ store, teardown, poisonCommit } = await setup());
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

    describe('runBatch', () => {
      it('runs every new key once, in order, and reports earlier and repeated keys as duplicates', async () => {
        const c = consumer();
        await store.runOnce(c, 'b#old', async () => 0);
        const order: number[] = [];
        const r = await store.runBatch(c, ['b#1', 'b#old', 'b#2', 'b#1', 'b#3'], async (i) => {
          order.push(i);
          return i * 10;
        });
        expect(order).toEqual([0, 2, 4]);
        expect(r).toEqual([
          { status: 'done', value: 0 },
          { status: 'duplicate' },
          { status: 'done', value: 20 },
          { status: 'duplicate' },
          { status: 'done', value: 40 },
        ]);
        expect(await store.runOnce(c, 'b#2', async () => -1)).toEqual({ duplicate: true });
      });

      it('a failing item is reported and NOT recorded; its neighbours are recorded', async () => {
        const c = consumer();
        const boom = new Error('item 1 failed');
        const r = await store.runBatch(c, ['f#0', 'f#1', 'f#2'], async (i) => {
          if (i === 1) throw boom;
          return i;
        });
        expect(r).toEqual([{ status: 'done', value: 0 }, { status: 'failed', error: boom }, { status: 'done', value: 2 }]);
        expect(await store.runOnce(c, 'f#0', async () => -1)).toEqual({ duplicate: true });
        expect(await store.runOnce(c, 'f#2', async () => -1)).toEqual({ duplicate: true });
        expect(await store.runOnce(c, 'f#1', async () => 'retried')).toEqual({ duplicate: false, value: 'retried' });
      });

      it('a commit failure throws DATABASE_UNAVAILABLE and records nothing of the batch', async () => {
        const c = consumer();
        const runs: number[] = [];
        await expect(
          store.runBatch(c, ['x#0', 'x#1', 'x#2'], async (i, tx) => {
            runs.push(i);
            if (i === 2) await poisonCommit(tx);
            return i;
          }),
        ).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
        expect(runs).toEqual([0, 1, 2]);
        const again = await store.runBatch(c, ['x#0', 'x#1', 'x#2'], async (i) => i);
        expect(again).toEqual([0, 1, 2].map((value) => ({ status: 'done', value })));
      });

      it('waits for a key another unfinished batch holds, then reports it duplicate', async () => {
        const c = consumer();
        let releaseFirst!: () => void;
        const gate = new Promise<void>((r) => (releaseFirst = r));
        let entered!: () => void;
        const inFirst = new Promise<void>((r) => (entered = r));
        const first = store.runBatch(c, ['w#1'], async () => {
          entered();
          await gate;
          return 'first';
        });
        await inFirst;
        let secondRan = false;
        const second = store.runBatch(c, ['w#1'], async () => {
          secondRan = true;
          return 'second';
        });
        releaseFirst();
        expect(await first).toEqual([{ status: 'done', value: 'first' }]);
        expect(await second).toEqual([{ status: 'duplicate' }]);
        expect(secondRan).toBe(false);
      });

      it('an empty batch is a no-op', async () => {
        expect(await store.runBatch(consumer(), [], async () => 1)).toEqual([]);
      });
    });
  });
}
