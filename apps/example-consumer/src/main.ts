/**
 * Example runtime consumer (docs/runtime-consumer.md): pins a trust root, follows release notices
 * on NATS when reachable, serves lookups and searches from the last verified pack — also with no
 * network at all. Run: `node -r @swc-node/register apps/example-consumer/src/main.ts`.
 */
import { readFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { createLogger } from '@koa/platform/observability';
import { Messaging } from '@koa/platform/messaging';
import { loadTrustRoot } from '@koa/release/verify';
import { RuntimeClient } from '@koa/runtime-client';
import { loadConsumerConfig } from './config';
import { createConsumerHttpServer } from './http';

const RECONNECT_MS = 5_000;

async function main(): Promise<void> {
  const log = createLogger('example-consumer');
  // the messaging lib logs through Nest's Logger: route it to the same JSON lines
  Logger.overrideLogger(log);
  const config = loadConsumerConfig(process.env);
  const trustRoot = await loadTrustRoot(readFileSync(config.TRUST_ROOT_FILE, 'utf8'), { env: config.ENV, now: new Date() });
  log.log({ msg: 'trust root pinned', env: trustRoot.env, version: trustRoot.version, digest: trustRoot.digest, expires: trustRoot.expires.toISOString() });

  const client = new RuntimeClient({
    tenant: config.TENANT,
    env: config.ENV,
    channel: config.CHANNEL,
    consumerId: config.CONSUMER_ID,
    trustRoot,
    dataDir: config.DATA_DIR,
    releaseUrl: config.RELEASE_URL,
    maxPackBytes: config.MAX_PACK_BYTES,
    logger: { info: (f) => log.log(f), warn: (f) => log.warn(f), error: (f) => log.error(f) },
  });
  const status = await client.start();
  log.log({ msg: 'consumer started from disk', state: status.state, version: status.version, code: status.lastRefusal?.code });

  const server = createConsumerHttpServer(client);
  await new Promise<void>((resolve) => server.listen(config.HTTP_PORT, config.HTTP_HOST, resolve));
  const address = server.address();
  log.log({ msg: 'http listening', address: typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address) });

  // offline-first: the feed is attached whenever NATS becomes reachable
  let messaging: Messaging | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  const connect = async (): Promise<void> => {
    if (!config.NATS_URL || stopping) return;
    try {
      messaging = await Messaging.connect({ url: config.NATS_URL, name: `runtime-${config.CONSUMER_ID}` });
      await client.attachMessaging(messaging);
      log.log({ msg: 'following release notices', tenant: config.TENANT, env: config.ENV, channel: config.CHANNEL });
    } catch (e) {
      await messaging?.close().catch(() => undefined);
      messaging = undefined;
      log.warn({ msg: 'NATS not reachable; serving from disk, will retry', code: (e as { code?: string }).code, error: (e as Error).message });
      timer = setTimeout(() => void connect(), RECONNECT_MS);
    }
  };
  await connect();

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.log({ msg: 'shutting down', signal });
    if (timer) clearTimeout(timer);
    await client.stop();
    await messaging?.close().catch(() => undefined);
    await new Promise((resolve) => server.close(resolve));
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((e: unknown) => {
  createLogger('example-consumer').fatal({ msg: 'failed to start', code: (e as { code?: string }).code, error: (e as Error).message });
  process.exit(1);
});
