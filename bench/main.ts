/**
 * `npm run bench [-- --quick | --smoke] [-- --only a,b] [-- --out file.json]`: starts its own
 * nats-server and PostgreSQL on loopback (never the shared ones), runs every suite (anchor and
 * ours alternated), stops what it started, writes the results JSON (bench/results/<timestamp>.json
 * unless `--out` names a file), prints a Markdown table and the line `results written to <file>`.
 *
 * Exit codes: 0 every suite measured correctly (goals may be missed: that is reported, not an
 * error); 1 a suite produced a wrong result or failed; 2 bad arguments; 3 the run overran its
 * deadline (`--deadline-s`, default 110 s in smoke mode, none otherwise); 130/143 interrupted.
 * Every exit path stops the servers and service processes the run started.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PrivateNatsServer, PrivatePostgres } from '@koa/platform/testing';
import { markdownTable, runSuite, type BenchContext, type BenchMode, type SuiteResult } from './harness';
import { SUITES } from './suites';
import { stopAll } from './suites/common';

const write = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined =>
    args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1) ?? (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const mode: BenchMode = args.includes('--smoke') ? 'smoke' : args.includes('--quick') ? 'quick' : 'full';
  const quick = mode !== 'full';
  const onlyArg = option('--only');
  const only = onlyArg ? new Set(onlyArg.split(',')) : undefined;
  const outArg = option('--out');
  const deadlineArg = option('--deadline-s');
  const deadlineS = deadlineArg !== undefined ? Number(deadlineArg) : mode === 'smoke' ? 110 : undefined;
  if (deadlineS !== undefined && !(deadlineS > 0)) {
    write(`--deadline-s ${deadlineArg} must be a positive number of seconds`);
    return 2;
  }
  const rounds = mode === 'full' ? 5 : 3;
  const suites = SUITES.filter((s) => !only || only.has(s.name));
  if (suites.length === 0 || (only && suites.length !== only.size)) {
    write(`no suite matches ${onlyArg}; suites: ${SUITES.map((s) => s.name).join(', ')}`);
    return 2;
  }
  const disposers: Array<() => Promise<unknown>> = [];
  const abort = (why: string, code: number): void => {
    process.stderr.write(`${why}; stopping what the bench started\n`);
    void Promise.all([stopAll(5_000), ...disposers.map((d) => d().catch(() => undefined))]).finally(() => process.exit(code));
  };
  // a hung suite must not hang CI, and an interrupted run must not leave servers behind
  if (deadlineS !== undefined) setTimeout(() => abort(`bench overran its deadline of ${deadlineS} s`, 3), deadlineS * 1000).unref();
  process.once('SIGINT', () => abort('interrupted (SIGINT)', 130));
  process.once('SIGTERM', () => abort('terminated (SIGTERM)', 143));

  const loadAtStart = loadavg();
  write(`kOA benchmarks (${mode}, ${rounds} alternating rounds per suite; load average ${loadAtStart.map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} cores)`);
  write('starting a private nats-server and PostgreSQL on loopback...');
  const nats = await PrivateNatsServer.start();
  disposers.push(() => nats.dispose());
  const pg = await PrivatePostgres.start();
  disposers.push(() => pg.dispose());
  let dbCounter = 0;
  const ctx: BenchContext = {
    quick,
    mode,
    natsUrl: nats.url,
    pgUrl: async (name) => pg.createDatabase(`${name}_${++dbCounter}`),
    log: write,
  };
  const results: SuiteResult[] = [];
  const started = new Date();
  try {
    for (const suite of suites) {
      write(`\n# ${suite.name}: ${suite.oursText} vs ${suite.anchorText}`);
      results.push(...(await runSuite(suite, ctx, rounds)));
    }
  } finally {
    await stopAll();
    await nats.dispose();
    await pg.dispose();
  }

  const table = markdownTable(results);
  write(`\n${table}\n`);
  const file = outArg ? resolve(outArg) : join(__dirname, 'results', `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    JSON.stringify({ started: started.toISOString(), seconds: (Date.now() - started.getTime()) / 1000, mode, quick, rounds, node: process.version, cpus: cpus().length, loadAverage: { atStart: loadAtStart, atEnd: loadavg() }, results, table }, null, 2),
  );
  write(`results written to ${file}`);
  const wrong = results.filter((r) => !r.correct);
  if (wrong.length > 0) {
    write(`${wrong.length} suite(s) produced a wrong result or failed: ${wrong.map((r) => `${r.suite}[${r.variant}]`).join(', ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
