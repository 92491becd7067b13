import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { digestHex, subjects } from '@koa/contracts';
import { Messaging } from '@koa/platform/messaging';
import { RuntimeClient } from '@koa/runtime-client';
import { bySize, now, seconds, withPeakRss, type BenchContext, type Sample, type Suite } from '../harness';
import { pipelined } from './common';
import { CHANNEL, ENV, TENANT, makePack, releaseFixture, type ReleaseFixture } from './release-fixture';

/**
 * fleet fan-out: N simulated consumers in one process (one NATS connection, as an edge gateway
 * would host them) each doing the real thing — `RuntimeClient.start()`: follow the channel on
 * KOA_RELEASES, receive the stored notice, verify it, download the pack over HTTP with a bound,
 * verify, persist atomically, activate, report `ConsumerActivated` to KOA_EVENTS — against ONE
 * consumer doing the same. Ratio = fleet activations/s over one consumer's activations/s; the
 * goal is that all N are active; total time and per-consumer cost are reported.
 */
const fleetSize = (ctx: BenchContext): number => bySize(ctx, { smoke: 10, quick: 100, full: 1_000 });
/** consumers starting at once (the rest queue): like a real fleet waking at different instants */
const START_WINDOW = 64;

let fx: ReleaseFixture | undefined;
let messaging: Messaging | undefined;
let http: Server | undefined;
let releaseUrl = '';
let pack: ReturnType<typeof makePack> | undefined;
let downloads = 0;
let counter = 0;

async function activate(n: number, round: number, side: string): Promise<Sample> {
  const clients: RuntimeClient[] = [];
  const ids: string[] = [];
  const dirs: string[] = [];
  const before = downloads;
  const t = now();
  const { value: states, peakRssBytes } = await withPeakRss(() =>
    pipelined(Array.from({ length: n }, (_, i) => i), START_WINDOW, async (i) => {
      const id = `fleet-${side}-${round}-${i}-${++counter}`;
      ids[i] = id;
      const dataDir = join(fx!.dir, id);
      dirs.push(dataDir);
      const c = new RuntimeClient({ tenant: TENANT, env: ENV, channel: CHANNEL, consumerId: id, trustRoot: fx!.trustRoot, dataDir, messaging: messaging!, releaseUrl });
      clients.push(c);
      const status = await c.start();
      return status.state === 'active' && status.packDigest === pack!.digest ? 'active' : `${status.state}${status.lastRefusal ? ` ${status.lastRefusal.code}` : ''}`;
    }),
  );
  const s = seconds(t);
  const active = states.filter((x) => x === 'active').length;
  // the activation reports reached the event log (checked for the first and the last consumer)
  const reported = await Promise.all(
    [ids[0], ids[ids.length - 1]].map(async (id) => {
      const { events } = await messaging!.readAggregate(TENANT, 'consumer', id);
      return events.some((e) => e.type === 'io.koa.runtime.consumer.activated.v1');
    }),
  );
  await Promise.all(clients.map((c) => c.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  const fetched = downloads - before;
  const ok = active === n && fetched === n && reported.every(Boolean);
  return {
    work: n,
    seconds: s,
    peakRssBytes,
    extra: { consumers: n, totalSeconds: s, perConsumerMs: (s * 1000) / n },
    check: { ok, detail: `active ${active}/${n}, downloads ${fetched}/${n}, reports seen ${reported.filter(Boolean).length}/2${ok ? '' : `; e.g. ${states.find((x) => x !== 'active') ?? ''}`}` },
  };
}

export const fleetFanout: Suite = {
  name: 'fleet-fanout',
  anchorText: "one consumer's activation (the same RuntimeClient path, alone)",
  oursText: 'N RuntimeClients in one process activating one release: notice from KOA_RELEASES, HTTP download, verify, persist, report',
  metric: { kind: 'throughput', unit: 'activations/s' },
  goal: { text: 'all active; total and per-consumer cost reported' },
  variants: (ctx) => [`${fleetSize(ctx)} consumers`],
  async setup(ctx) {
    fx = await releaseFixture();
    messaging = await Messaging.connect({ url: ctx.natsUrl, name: 'bench-fleet' });
    await messaging.ensureTopology();
    pack = makePack(256 * 1024, { label: 'fleet' });
    const hex = digestHex(pack.digest);
    http = createServer((req, res) => {
      if (req.url === `/v1/tenants/${TENANT}/packs/sha256%3A${hex}` || req.url === `/v1/tenants/${TENANT}/packs/${pack!.digest}`) {
        downloads++;
        res.writeHead(200, { 'content-type': 'application/vnd.koa.pack.v1+tar', 'content-length': String(pack!.size) });
        res.end(Buffer.from(pack!.bytes));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
    releaseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const jws = await fx.notice(1, pack);
    await messaging.publish(subjects.release(TENANT, ENV, CHANNEL), new TextEncoder().encode(jws), { msgId: `fleet-notice-${Date.now()}` });
  },
  anchor: (_ctx, _v, round) => activate(1, round, 'anchor'),
  ours: (ctx, _v, round) => activate(fleetSize(ctx), round, 'ours'),
  async teardown() {
    await new Promise((resolve) => (http?.listening ? http.close(resolve) : resolve(undefined)));
    await messaging?.close();
    fx?.dispose();
    fx = undefined;
    messaging = undefined;
  },
};
