import { markdownTable, percentile, runSuite, type BenchContext, type Sample, type Suite } from './harness';

const ctx: BenchContext = { quick: true, mode: 'smoke', natsUrl: 'nats://unused', pgUrl: async () => 'postgres://unused', log: () => undefined };
const ok = { ok: true, detail: 'ok' };

function suite(over: Partial<Suite> & { oursSample?: (round: number) => Sample }, calls: string[] = []): Suite {
  return {
    name: 'fake',
    anchorText: 'anchor',
    oursText: 'ours',
    metric: { kind: 'throughput', unit: 'ops/s' },
    goal: { text: '≥ 0.5×', min: 0.5 },
    anchor: async (_c, _v, round) => {
      calls.push(`A${round}`);
      return { work: 100, seconds: 1, check: ok };
    },
    ours: async (_c, _v, round) => {
      calls.push(`O${round}`);
      return over.oursSample?.(round) ?? { work: 60, seconds: 1, check: ok };
    },
    ...over,
  };
}

describe('percentile', () => {
  it('is nearest-rank on a sorted copy', () => {
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile([5, 1, 3, 2, 4], 99)).toBe(5);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('runSuite', () => {
  it('alternates anchor and ours (A B, B A, A B) and reports the median and worst ratio', async () => {
    const calls: string[] = [];
    let r = 0;
    const [res] = await runSuite(suite({ oursSample: () => ({ work: [60, 40, 80][r++], seconds: 1, check: ok }) }, calls), ctx, 3);
    expect(calls).toEqual(['A1', 'O1', 'O2', 'A2', 'A3', 'O3']);
    expect(res.pairs.map((p) => p.ratio)).toEqual([0.6, 0.4, 0.8]);
    expect(res.medianRatio).toBe(0.6);
    expect(res.worstRatio).toBe(0.4);
    expect(res).toMatchObject({ correct: true, goalMet: true });
  });

  it('a fast wrong answer is a failure: correct false and goal not met, whatever the speed', async () => {
    const [res] = await runSuite(suite({ oursSample: (round) => ({ work: 1000, seconds: 1, check: round === 2 ? { ok: false, detail: 'stored 999/1000' } : ok }) }), ctx, 3);
    expect(res.medianRatio).toBe(10);
    expect(res).toMatchObject({ correct: false, goalMet: false });
    expect(markdownTable([res])).toContain('WRONG RESULT');
  });

  it('a throwing suite is recorded with its error and torn down', async () => {
    const torn: string[] = [];
    const [res] = await runSuite(suite({ ours: async () => { throw new Error('broker gone'); }, teardown: async (_c, v) => void torn.push(v) }), ctx, 3);
    expect(res).toMatchObject({ correct: false, goalMet: false, error: 'broker gone' });
    expect(torn).toEqual(['default']);
  });

  it('never runs fewer than 3 rounds, even when a suite asks for fewer', async () => {
    const [res] = await runSuite(suite({ rounds: () => 1 }), ctx, 5);
    expect(res.pairs).toHaveLength(3);
  });

  it('latency suites compare p50 and p99 (lower is better) against a maximum', async () => {
    const lat = (ms: number): Sample => ({ work: 10, seconds: 1, latenciesMs: Array.from({ length: 10 }, () => ms), check: ok });
    const s = suite({ metric: { kind: 'latency' }, goal: { text: '≤ 10×', max: 10 }, anchor: async () => lat(2), oursSample: () => lat(30) });
    const [res] = await runSuite(s, ctx, 3);
    expect(res.medianRatio).toBe(15);
    expect(res.medianRatioP99).toBe(15);
    expect(res.goalMet).toBe(false);
  });
});
