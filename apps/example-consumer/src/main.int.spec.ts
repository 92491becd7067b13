// Runs the example consumer as a real process (node -r @swc-node/register main.ts) against a
// private nats-server and a local pack server; queries its HTTP API; then takes NATS away.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { digestHex, sha256Digest, subjects } from '@koa/contracts';
import { encodePack } from '@koa/pack-format';
import { Messaging } from '@koa/platform/messaging';
import { PrivateNatsServer, eventually, freePort } from '@koa/platform/testing';
import { DevKeyring, signReleaseNotice } from '@koa/release/signing';


const REPO = resolve(__dirname, '../../..');
let tmp: string;
let nats: PrivateNatsServer;
let messaging: Messaging;
let packServer: Server;
let child: ChildProcess | undefined;
let output = '';
let port: number;

const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'koa-example-consumer-'));
  nats = await PrivateNatsServer.start();
  messaging = await Messaging.connect({ url: nats.url, name: 'example-consumer-test' });
  await messaging.ensureTopology();
});

afterAll(async () => {
  // a child that already ended (exit code or signal) emits no second 'exit': only wait for a live one
  const live = child;
  if (live && live.exitCode === null && live.signalCode === null) {
    const exited = new Promise((r) => live.once('exit', r));
    live.kill('SIGKILL'); // a failed test: the run is over, no graceful stop to wait for
    await exited;
  }
  await messaging?.close().catch(() => undefined);
  await nats?.dispose();
  await new Promise((r) => (packServer?.listening ? packServer.close(r) : r(undefined)));
  rmSync(tmp, { recursive: true, force: true });
});

it('activates a published release, serves /status, /entities/:id and /search, and keeps serving without NATS', async () => {
  const now = new Date();
  const keyring = await DevKeyring.open(join(tmp, 'keys'), 'dev', { now: () => now });
  const trustRootFile = join(tmp, 'trust-root.dev.json');
  writeFileSync(trustRootFile, await keyring.trustRoot());
  const pack = encodePack({
    manifest: { tenant: 'acme', pipelineVersion: '1.0.0', snapshotSetRoot: sha256Digest('root'), inputs: [{ digest: sha256Digest('src'), mediaType: 'application/json' }] },
    entities: [{ id: 'pump-p100', type: 'equipment', title: 'Centrifugal pump P100', text: 'Check the pump seal monthly.', attributes: {}, sources: [sha256Digest('src')] }],
    evidence: { passed: true },
  });
  packServer = createServer((req, res) => {
    if (req.url === `/v1/tenants/acme/packs/sha256%3A${digestHex(pack.digest)}`) res.writeHead(200, { 'content-length': pack.size }).end(Buffer.from(pack.bytes));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => packServer.listen(0, '127.0.0.1', r));
  const iat = Math.floor(now.getTime() / 1000);
  const notice = await signReleaseNotice(keyring.releaseSigner, {
    iss: 'koa:konnaxion-release', tenant: 'acme', env: 'dev', channel: 'stable', version: 1, releaseId: 'r-1', caseId: 'case-1',
    pack: { digest: pack.digest, size: pack.size }, provenanceDigest: sha256Digest('p'), evidenceDigest: sha256Digest('e'), iat, exp: iat + 3600,
  });
  await messaging.publish(subjects.release('acme', 'dev', 'stable'), new TextEncoder().encode(notice), { msgId: 'r-1' });

  port = await freePort();
  child = spawn(process.execPath, ['-r', '@swc-node/register', 'apps/example-consumer/src/main.ts'], {
    cwd: REPO,
    env: {
      ...process.env,
      NATS_URL: nats.url,
      RELEASE_URL: `http://127.0.0.1:${(packServer.address() as AddressInfo).port}`,
      TENANT: 'acme', ENV: 'dev', CHANNEL: 'stable', CONSUMER_ID: 'example-1',
      TRUST_ROOT_FILE: trustRootFile, DATA_DIR: join(tmp, 'data'), HTTP_PORT: String(port), LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));

  await eventually(async () => {
    const { body } = await get('/status').catch(() => ({ body: {} as Record<string, unknown> }));
    return body['state'] === 'active' && body['following'] === true;
  }, { timeoutMs: 60_000, what: `consumer active; output so far:\n${output}` });
  expect((await get('/status')).body).toMatchObject({ state: 'active', version: 1, packDigest: pack.digest, following: true });
  expect(await get('/entities/pump-p100')).toMatchObject({ status: 200, body: { title: 'Centrifugal pump P100' } });
  expect(await get('/entities/nope')).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
  expect((await get('/search?q=pump%20seal')).body['results']).toEqual([expect.objectContaining({ id: 'pump-p100' })]);
  expect(await get('/search')).toMatchObject({ status: 400, body: { code: 'REQUEST_INVALID' } });
  expect(await get('/health/ready')).toMatchObject({ status: 200 });
  // JSON log lines on stdout
  expect(output.split('\n').filter((l) => l.includes('"activated"') || l.includes('runtime: activated')).length).toBeGreaterThan(0);

  // the network goes away: the consumer keeps answering
  await nats.stop();
  await new Promise((r) => packServer.close(r));
  expect(await get('/entities/pump-p100')).toMatchObject({ status: 200 });
  expect((await get('/status')).body).toMatchObject({ state: 'active', version: 1 });

  const exited = new Promise((r) => child?.once('exit', r));
  child.kill('SIGTERM');
  const code = await exited;
  expect(code).toBe(0);
  // every line the process wrote is a JSON log line (including the messaging lib's reconnect warnings)
  const lines = output.split('\n').filter((l) => l.trim());
  expect(lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } })).toEqual([]);
  expect(lines.map((l) => (JSON.parse(l) as { msg?: string }).msg)).toEqual(expect.arrayContaining(['trust root pinned', 'runtime: activated', 'following release notices', 'shutting down']));
});
