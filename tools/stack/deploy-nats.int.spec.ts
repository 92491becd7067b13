/** deploy/nats/nats-server.conf runs on the local nats-server and carries the kOA topology. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STREAMS, subjects } from '@koa/contracts';
import { Messaging } from '@koa/platform/messaging';
import { freePort } from '@koa/platform/testing';
import { REPO_ROOT } from './stack';


it('the deploy config starts a JetStream server that accepts the kOA topology and 8 MB-class payloads', async () => {
  const [port, monitor] = [await freePort(), await freePort()];
  const store = mkdtempSync(join(tmpdir(), 'koa-deploy-nats-'));
  let log = '';
  const child = spawn('nats-server', ['-c', join(REPO_ROOT, 'deploy/nats/nats-server.conf'), '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor)], {
    env: { ...process.env, NATS_SERVER_NAME: 'koa-deploy-test', NATS_STORE_DIR: store },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  let messaging: Messaging | undefined;
  try {
    messaging = await connectWithin(`nats://127.0.0.1:${port}`, 15_000);
    await messaging.ensureTopology();
    const big = new Uint8Array(7 * 1024 * 1024).fill(7);
    // KOA_DLQ is the stream with the largest records (8 MiB, original bytes included)
    const subject = subjects.deadLetter('deploy-test');
    const ack = await messaging.publish(subject, big);
    expect(ack.seq).toBeGreaterThan(0);
    const last = await messaging.lastMessage(STREAMS.deadLetters.name, subject);
    expect(last?.data.length).toBe(big.length);
    const varz = (await (await fetch(`http://127.0.0.1:${monitor}/varz`)).json()) as { max_payload: number; server_name: string };
    expect(varz).toMatchObject({ max_payload: 8 * 1024 * 1024, server_name: 'koa-deploy-test' });
  } catch (e) {
    throw new Error(`${(e as Error).message}\nnats-server log:\n${log}`);
  } finally {
    await messaging?.close();
    child.kill('SIGTERM');
    await exited;
    rmSync(store, { recursive: true, force: true });
  }
});

async function connectWithin(url: string, ms: number): Promise<Messaging> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await Messaging.connect({ url, name: 'deploy-test', connectTimeoutMs: 2000 });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
