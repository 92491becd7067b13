/**
 * The benchmark harness: every suite measures the raw engine (the anchor) and our real code path
 * side by side, alternating A/B at least three times so that drift on a noisy machine hits both,
 * and reports ratios — never absolute numbers alone. Each side also proves it did the work right
 * (counts, ordering, duplicates, digests): a fast wrong answer is a failure.
 */

/** One measured run of one side. */
export interface Sample {
  /** operations (or bytes, for MiB/s suites) completed */
  readonly work: number;
  readonly seconds: number;
  /** per-operation latencies in ms, when the suite measures latency */
  readonly latenciesMs?: readonly number[];
  /** peak resident set size during the run, bytes */
  readonly peakRssBytes?: number;
  /** the correctness check of this run: ok, or what was wrong */
  readonly check: { readonly ok: boolean; readonly detail: string };
  /** further figures worth keeping (e.g. per-consumer cost), copied to the results JSON */
  readonly extra?: Readonly<Record<string, number>>;
}

export type Metric =
  /** work per second; ratio = ours / anchor (higher is better) */
  | { readonly kind: 'throughput'; readonly unit: string }
  /** latency percentiles; ratio = ours / anchor (lower is better) */
  | { readonly kind: 'latency' };

export interface Goal {
  readonly text: string;
  /** throughput: ratio must be ≥ min; latency: p50 and p99 ratios must be ≤ max */
  readonly min?: number;
  readonly max?: number;
}

/** `smoke`: tiny sizes for CI (correctness only); `quick`: about two minutes; `full`: the issue's sizes. */
export type BenchMode = 'smoke' | 'quick' | 'full';

export interface BenchContext {
  /** true in quick AND smoke mode (smaller than full) */
  readonly quick: boolean;
  readonly mode: BenchMode;
  readonly natsUrl: string;
  readonly pgUrl: (database: string) => Promise<string>;
  readonly log: (line: string) => void;
}

export interface Suite {
  readonly name: string;
  readonly anchorText: string;
  readonly oursText: string;
  readonly metric: Metric;
  readonly goal: Goal;
  /** variants measured separately (e.g. 1 MiB and 64 MiB packs) */
  readonly variants?: (ctx: BenchContext) => readonly string[];
  /**
   * A further goal on the measured pairs (e.g. "peak RSS independent of size"): when present, the
   * verdict is met only if both the ratio goal and this one are met; `text` says what was found.
   */
  readonly extraGoal?: (pairs: readonly PairResult[], variant: string) => { readonly met: boolean; readonly text: string };
  /** alternating rounds for this suite when fewer than the run's default (never below 3) */
  readonly rounds?: (ctx: BenchContext) => number;
  setup?(ctx: BenchContext, variant: string): Promise<void>;
  anchor(ctx: BenchContext, variant: string, round: number): Promise<Sample>;
  ours(ctx: BenchContext, variant: string, round: number): Promise<Sample>;
  teardown?(ctx: BenchContext, variant: string): Promise<void>;
}

export interface PairResult {
  readonly round: number;
  readonly anchor: SampleSummary;
  readonly ours: SampleSummary;
  /** throughput: ours/anchor rate; latency: ours/anchor p50 */
  readonly ratio: number;
  readonly ratioP99?: number;
}

export interface SampleSummary {
  readonly rate: number;
  readonly work: number;
  readonly seconds: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly peakRssMiB?: number;
  readonly check: Sample['check'];
  readonly extra?: Sample['extra'];
}

export interface SuiteResult {
  readonly suite: string;
  readonly variant: string;
  readonly anchor: string;
  readonly ours: string;
  readonly metric: Metric;
  readonly goal: Goal;
  readonly pairs: readonly PairResult[];
  readonly medianRatio: number;
  readonly worstRatio: number;
  readonly medianRatioP99?: number;
  readonly correct: boolean;
  readonly goalMet: boolean | null;
  /** what the suite's extra goal found, when it has one */
  readonly goalNote?: string;
  readonly error?: string;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export const median = (values: readonly number[]): number => percentile(values, 50);

function summarize(s: Sample): SampleSummary {
  return {
    rate: s.work / s.seconds,
    work: s.work,
    seconds: s.seconds,
    ...(s.latenciesMs && s.latenciesMs.length > 0 && { p50Ms: percentile(s.latenciesMs, 50), p99Ms: percentile(s.latenciesMs, 99) }),
    ...(s.peakRssBytes !== undefined && { peakRssMiB: s.peakRssBytes / 1024 / 1024 }),
    check: s.check,
    ...(s.extra && { extra: s.extra }),
  };
}

/**
 * How long a suite waits for the system under test to finish one round before it gives up with
 * an error (a stall must fail the round, not hang the run): 60 s in smoke mode, 5 min otherwise.
 */
export const stallMs = (ctx: BenchContext): number => (ctx.mode === 'smoke' ? 60_000 : 300_000);

/** Picks the size for the run's mode. */
export const bySize = <T>(ctx: BenchContext, sizes: { readonly smoke: T; readonly quick: T; readonly full: T }): T => sizes[ctx.mode];

/** Runs anchor and ours alternately `rounds` times (A B, B A, A B, ... so order effects cancel). */
export async function runSuite(suite: Suite, ctx: BenchContext, defaultRounds: number): Promise<SuiteResult[]> {
  const rounds = Math.max(3, Math.min(defaultRounds, suite.rounds?.(ctx) ?? defaultRounds));
  const results: SuiteResult[] = [];
  for (const variant of suite.variants?.(ctx) ?? ['default']) {
    const pairs: PairResult[] = [];
    let error: string | undefined;
    try {
      await suite.setup?.(ctx, variant);
      for (let round = 1; round <= rounds; round++) {
        const anchorFirst = round % 2 === 1;
        const first = anchorFirst ? await suite.anchor(ctx, variant, round) : await suite.ours(ctx, variant, round);
        const second = anchorFirst ? await suite.ours(ctx, variant, round) : await suite.anchor(ctx, variant, round);
        const a = summarize(anchorFirst ? first : second);
        const o = summarize(anchorFirst ? second : first);
        const pair: PairResult =
          suite.metric.kind === 'throughput'
            ? { round, anchor: a, ours: o, ratio: o.rate / a.rate }
            : { round, anchor: a, ours: o, ratio: (o.p50Ms ?? NaN) / (a.p50Ms ?? NaN), ratioP99: (o.p99Ms ?? NaN) / (a.p99Ms ?? NaN) };
        pairs.push(pair);
        ctx.log(`  ${suite.name}[${variant}] round ${round}: ratio ${pair.ratio.toFixed(3)}${pair.ratioP99 !== undefined ? ` (p99 ${pair.ratioP99.toFixed(3)})` : ''}` +
          `${a.check.ok && o.check.ok ? '' : ` CHECK FAILED: ${[a.check, o.check].filter((c) => !c.ok).map((c) => c.detail).join('; ')}`}`);
      }
    } catch (e) {
      error = e instanceof Error ? `${e.message}` : String(e);
      ctx.log(`  ${suite.name}[${variant}] ERROR: ${error}`);
    } finally {
      await suite.teardown?.(ctx, variant).catch((e: unknown) => ctx.log(`  teardown failed: ${String(e)}`));
    }
    const ratios = pairs.map((p) => p.ratio);
    const latency = suite.metric.kind === 'latency';
    const medianRatio = median(ratios);
    // the worst pairing: lowest ratio for throughput, highest for latency
    const worstRatio = ratios.length ? (latency ? Math.max(...ratios) : Math.min(...ratios)) : NaN;
    const medianRatioP99 = latency ? median(pairs.map((p) => p.ratioP99 ?? NaN)) : undefined;
    const correct = !error && pairs.length === rounds && pairs.every((p) => p.anchor.check.ok && p.ours.check.ok);
    let goalMet: boolean | null = null;
    if (correct && suite.goal.min !== undefined) goalMet = medianRatio >= suite.goal.min;
    if (correct && suite.goal.max !== undefined) goalMet = medianRatio <= suite.goal.max && (medianRatioP99 ?? 0) <= suite.goal.max;
    let goalNote: string | undefined;
    if (correct && suite.extraGoal) {
      const extra = suite.extraGoal(pairs, variant);
      goalNote = extra.text;
      goalMet = (goalMet ?? true) && extra.met;
    }
    if (!correct) goalMet = false;
    results.push({ suite: suite.name, variant, anchor: suite.anchorText, ours: suite.oursText, metric: suite.metric, goal: suite.goal, pairs, medianRatio, worstRatio, ...(medianRatioP99 !== undefined && { medianRatioP99 }), correct, goalMet, ...(goalNote !== undefined && { goalNote }), ...(error && { error }) });
  }
  return results;
}

const fmt = (n: number | undefined, digits = 2): string =>
  n === undefined || Number.isNaN(n) ? '—' : n >= 100 ? n.toFixed(0) : n !== 0 && Math.abs(n) < 0.1 ? n.toPrecision(2) : n.toFixed(digits);

/** The short Markdown table printed to stdout and pasted into docs/performance.md. */
export function markdownTable(results: readonly SuiteResult[]): string {
  const rows = results.map((r) => {
    const a = median(r.pairs.map((p) => p.anchor.rate));
    const o = median(r.pairs.map((p) => p.ours.rate));
    const unit = r.metric.kind === 'throughput' ? r.metric.unit : 'ms';
    const anchorFig = r.metric.kind === 'throughput' ? `${fmt(a)} ${unit}` : `p50 ${fmt(median(r.pairs.map((p) => p.anchor.p50Ms ?? NaN)))} / p99 ${fmt(median(r.pairs.map((p) => p.anchor.p99Ms ?? NaN)))} ms`;
    const oursFig = r.metric.kind === 'throughput' ? `${fmt(o)} ${unit}` : `p50 ${fmt(median(r.pairs.map((p) => p.ours.p50Ms ?? NaN)))} / p99 ${fmt(median(r.pairs.map((p) => p.ours.p99Ms ?? NaN)))} ms`;
    const ratio = r.metric.kind === 'throughput' ? `${fmt(r.medianRatio)}× (worst ${fmt(r.worstRatio)}×)` : `p50 ${fmt(r.medianRatio)}× / p99 ${fmt(r.medianRatioP99)}× (worst p50 ${fmt(r.worstRatio)}×)`;
    const rss = median(r.pairs.map((p) => p.ours.peakRssMiB ?? NaN));
    const verdict = (r.error ? `error: ${r.error.slice(0, 60)}` : !r.correct ? 'WRONG RESULT' : r.goalMet === null ? 'reported' : r.goalMet ? 'met' : 'missed') + (r.goalNote ? ` (${r.goalNote})` : '');
    return `| ${r.suite}${r.variant === 'default' ? '' : ` (${r.variant})`} | ${anchorFig} | ${oursFig} | ${ratio} | ${r.goal.text} | ${Number.isNaN(rss) ? '—' : `${fmt(rss, 0)} MiB`} | ${verdict} |`;
  });
  return ['| suite | raw anchor | our path | ratio (median of pairs) | goal | peak RSS (ours) | verdict |', '|---|---|---|---|---|---|---|', ...rows].join('\n');
}

/** Samples this process' RSS every few ms while `work` runs; `startRssBytes` is the RSS before it. */
export async function withPeakRss<T>(work: () => Promise<T>): Promise<{ value: T; peakRssBytes: number; startRssBytes: number }> {
  const startRssBytes = process.memoryUsage().rss;
  let peak = startRssBytes;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    const value = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, peakRssBytes: peak, startRssBytes };
  } finally {
    clearInterval(timer);
  }
}

export const seconds = (startNs: bigint): number => Number(process.hrtime.bigint() - startNs) / 1e9;
export const now = (): bigint => process.hrtime.bigint();
