// CI smoke of the benchmark: every suite runs at tiny sizes (3 alternating rounds) against real
// services, and must MEASURE CORRECTLY — counts, ordering, digests. No speed is asserted here:
// ratios on a shared CI machine are noise; docs/performance.md records real runs.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { SuiteResult } from './harness';
import { SUITES } from './suites';

const REPO = resolve(__dirname, '..');

function runBench(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', 'bench/main.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, SWC_NODE_PROJECT: join(REPO, 'tsconfig.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output });
    });
  });
}

describe('bench --smoke', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'koa-bench-smoke-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every suite and every suite measured correctly', async () => {
    const out = join(dir, 'results.json');
    // the child stops itself (exit 3) at its deadline, before this test's timeout; generous: it proves
    // the harness works and every suite measures correctly, never speed
    const { code, output } = await runBench(['--smoke', '--out', out, '--deadline-s', '420'], 435_000);
    if (code !== 0) throw new Error(`bench --smoke exited ${code}:\n${output.slice(-4000)}`);
    expect(output).toContain(`results written to ${out}`);
    const json = JSON.parse(readFileSync(out, 'utf8')) as { mode: string; rounds: number; results: SuiteResult[] };
    expect(json.mode).toBe('smoke');
    const measured = new Set(json.results.map((r) => r.suite));
    expect([...measured].sort()).toEqual(SUITES.map((s) => s.name).sort());
    for (const r of json.results) {
      expect({ suite: r.suite, variant: r.variant, correct: r.correct, error: r.error }).toEqual({ suite: r.suite, variant: r.variant, correct: true, error: undefined });
      expect(r.pairs.length).toBeGreaterThanOrEqual(3);
      for (const p of r.pairs) {
        expect(p.anchor.check.ok && p.ours.check.ok).toBe(true);
        expect(p.ours.work).toBeGreaterThan(0);
      }
    }
  }, 450_000);

  it('refuses an unknown suite name with exit code 2', async () => {
    // loading bench/main.ts and every suite through swc takes a while on a loaded machine: the child
    // gets 100 s, under the global 120 s test timeout (a child killed at the test's own timeout would
    // report "timeout", not what the child said)
    const { code, output } = await runBench(['--smoke', '--only', 'no-such-suite'], 100_000);
    expect(code).toBe(2);
    expect(output).toContain('no suite matches no-such-suite');
  });
});
