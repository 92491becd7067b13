/**
 * `npm run bench [-- --quick] [-- --only a,b]`: starts its own nats-server and PostgreSQL on
 * loopback (never the shared ones), runs every suite (anchor and ours alternated), stops what it
 * started, writes bench/results/<timestamp>.json and prints a Markdown table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateNatsServer, PrivatePostgres } from '@koa/platform/testing';
import { markdownTable, runSuite, type BenchContext, type SuiteResult } from './harness';
import { SUITES } from './suites';

const write = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const onlyArg = args.find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? (args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined);
  const only = onlyArg ? new Set(onlyArg.split(',')) : undefined;
  const rounds = quick ? 3 : 5;
  const suites = SUITES.filter((s) => !only || only.has(s.name));
  if (suites.length === 0) {
    write(`no suite matches ${onlyArg}; suites: ${SUITES.map((s) => s.name).join(', ')}`);
    return 2;
  }

  write(`kOA benchmarks (${quick ? 'quick' : 'full'}, ${rounds} alternating rounds per suite)`);
  write('starting a private nats-server and PostgreSQL on loopback...');
  const nats = await PrivateNatsServer.start();
  const pg = await PrivatePostgres.start();
  let dbCounter = 0;
  const ctx: BenchContext = {
    quick,
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
    await nats.dispose();
    await pg.dispose();
  }

  const table = markdownTable(results);
  write(`\n${table}\n`);
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({ started: started.toISOString(), quick, rounds, node: process.version, cpus: require('node:os').cpus().length, results, table }, null, 2),
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
