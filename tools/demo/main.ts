/**
 * `npm run demo`: the kOA stack end to end on this machine.
 *
 * Starts a private nats-server and PostgreSQL (or uses NATS_URL / DATABASE_URL when set), runs the
 * five services as separate processes, then runs the demo steps in order, then stops everything.
 * Exit 0 when every step passed and every service stopped with code 0; 1 otherwise.
 *
 * To extend the demo, append a {@link DemoStep} to `steps` (each gets the running stack and a
 * `say` function for progress; it throws to fail the demo).
 */
import { startStack, SERVICE_NAMES, type Stack } from '../stack/stack';
import { chainSteps, stopDemoConsumer } from './chain-steps';

/** One step of the demo story. */
export interface DemoStep {
  readonly title: string;
  run(ctx: DemoContext): Promise<void>;
}

export interface DemoContext {
  readonly stack: Stack;
  /** Prints an indented progress line. */
  say(line: string): void;
}

/* eslint-disable no-console -- a command-line tool: its output IS the product */
const print = (line: string): void => console.log(line);

export const steps: DemoStep[] = [
  {
    title: 'every service reports ready (NATS and its database up)',
    async run({ stack, say }) {
      for (const name of SERVICE_NAMES) {
        const svc = stack.services[name];
        if (!svc) throw new Error(`${name} is not running`);
        const res = await fetch(`${svc.url}/health/ready`);
        const body = (await res.json()) as { status: string; checks: Record<string, string> };
        if (res.status !== 200) throw new Error(`${name} is not ready: ${JSON.stringify(body)}`);
        say(`${name.padEnd(18)} ${svc.url}  nats=${body.checks['nats']} database=${body.checks['database']}`);
      }
    },
  },
  ...chainSteps,
];

async function main(): Promise<number> {
  const started = Date.now();
  print('kOA demo');
  let stack: Stack | undefined;
  let failed = false;
  const interrupt = (): void => {
    print('\ninterrupted: stopping');
    void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    stack = await startStack({
      natsUrl: process.env['NATS_URL'] || undefined,
      databaseUrl: process.env['DATABASE_URL'] || undefined,
      logLevel: process.env['LOG_LEVEL'] || 'info',
      log: (l) => print(`  · ${l}`),
    });
    print(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s (service logs in ${stack.logDir})`);
    for (const [i, step] of steps.entries()) {
      print(`[${i + 1}/${steps.length}] ${step.title}`);
      await step.run({ stack, say: (l) => print(`      ${l}`) });
    }
  } catch (e) {
    failed = true;
    print(`FAILED: ${(e as Error).message}`);
  } finally {
    const consumerExit = await stopDemoConsumer();
    if (consumerExit !== null && consumerExit !== 0) {
      failed = true;
      print(`  example-consumer exited with code ${consumerExit}`);
    }
    if (stack) {
      print('stopping');
      const exits = await stack.stop();
      for (const [name, exit] of Object.entries(exits)) {
        if (exit.code !== 0) {
          failed = true;
          print(`  ${name} exited with code ${exit.code}${exit.signal ? ` (signal ${exit.signal})` : ''}; see ${stack.logDir}`);
        }
      }
    }
  }
  print(failed ? 'demo FAILED' : `demo passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return failed ? 1 : 0;
}

if (require.main === module) {
  void main().then((code) => process.exit(code));
}
