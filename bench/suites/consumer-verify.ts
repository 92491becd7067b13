import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { mkdirSync, promises as fs, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeClient } from '@koa/runtime-client';
import { bySize, now, seconds, withPeakRss, type BenchContext, type Sample, type Suite } from '../harness';
import { CHANNEL, ENV, MiB, TENANT, makePack, releaseFixture, type ReleaseFixture } from './release-fixture';

/**
 * consumer verify + activate: `RuntimeClient.offer(notice)` — verify the signed notice against the
 * pinned root, check pack size and digest, decode koa-pack/2, persist pack + notice + state.json
 * (carrying the ConsumerActivated report) durably — all fsync'd, the rename of state.json being
 * the one switch point (docs/runtime-consumer.md §4) — switch; against the raw floor of the
 * same work: sha256 of the pack, one node:crypto Ed25519 verify of the notice, write + fsync + rename + dir fsync.
 * The pack is handed over in memory on both sides (downloads are not measured here).
 *
 * Activation checks entity lines structurally and each line in full on first use, and derives
 * the search index on the first search (docs/runtime-consumer.md): that deferred work is not in
 * the ratio, so after each round the suite times every client's FIRST lookup and FIRST search
 * and reports their medians as extra figures (`firstLookupMs`, `firstSearchMs`), and checks
 * their answers.
 */
const variantsOf = (ctx: BenchContext): string[] => bySize(ctx, { smoke: ['256 KiB'], quick: ['1 MiB', '16 MiB'], full: ['1 MiB', '64 MiB'] });
const bytesOf = (variant: string): number => {
  const m = /^(\d+) (KiB|MiB)$/.exec(variant);
  if (!m) throw new Error(`unknown variant ${variant}`);
  // "64 MiB" stays just under the consumer's default 64 MiB pack bound
  return Math.min(Number(m[1]) * (m[2] === 'MiB' ? MiB : 1024), 63 * MiB);
};
/** activations per round: enough work to time small packs, one for big ones */
const opsOf = (variant: string): number => (bytesOf(variant) <= 2 * MiB ? 10 : 1);

let fx: ReleaseFixture | undefined;
let pack: ReturnType<typeof makePack> | undefined;
let notices: string[] = [];
let key: KeyObject | undefined;
let dirCounter = 0;

export const consumerVerify: Suite = {
  name: 'consumer-verify-activate',
  anchorText: 'sha256 of the pack + node:crypto Ed25519 verify of the notice + write, fsync, rename, fsync dir',
  oursText: 'RuntimeClient.offer: verify notice (pinned root, scope, version, expiry), size + digest, verify pack (ustar, manifest, part digests, entity framing + ids), persist pack + notice + state.json with the activation report (all fsynced; the rename of state.json is the one switch), switch (first lookup/search timed separately)',
  metric: { kind: 'throughput', unit: 'MiB/s' },
  goal: { text: '≥ 0.7×', min: 0.7 },
  variants: variantsOf,
  async setup(_ctx, variant) {
    fx = await releaseFixture();
    pack = makePack(bytesOf(variant), { label: variant });
    // a fresh consumer per activation, so version 1 is always acceptable
    notices = [await fx.notice(1, pack)];
    key = createPublicKey({ key: fx.publicJwk, format: 'jwk' });
  },
  async anchor(_ctx, variant): Promise<Sample> {
    const ops = opsOf(variant);
    const jws = notices[0];
    const [h, p, sig] = jws.split('.');
    const dirs = Array.from({ length: ops }, () => join(fx!.dir, `anchor-${++dirCounter}`));
    for (const d of dirs) mkdirSync(d);
    let verified = 0;
    let digestOk = 0;
    const t = now();
    const { peakRssBytes } = await withPeakRss(async () => {
      for (const dir of dirs) {
        if (verify(null, Buffer.from(`${h}.${p}`), key!, Buffer.from(sig, 'base64url'))) verified++;
        if (`sha256:${createHash('sha256').update(pack!.bytes).digest('hex')}` === pack!.digest) digestOk++;
        const tmp = join(dir, 'pack.tmp');
        const handle = await fs.open(tmp, 'wx', 0o600);
        await handle.writeFile(pack!.bytes);
        await handle.sync();
        await handle.close();
        await fs.rename(tmp, join(dir, 'pack.tar'));
        const d = await fs.open(dir, 'r');
        await d.sync();
        await d.close();
      }
    });
    const s = seconds(t);
    const sizes = await Promise.all(dirs.map(async (d) => (await fs.stat(join(d, 'pack.tar'))).size));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    const ok = verified === ops && digestOk === ops && sizes.every((n) => n === pack!.size);
    return { work: (ops * pack!.size) / MiB, seconds: s, peakRssBytes, check: { ok, detail: `verified ${verified}/${ops}, digest ${digestOk}/${ops}, files of the right size ${sizes.filter((n) => n === pack!.size).length}/${ops}` } };
  },
  async ours(_ctx, variant): Promise<Sample> {
    const ops = opsOf(variant);
    const clients: RuntimeClient[] = [];
    const dataDirs: string[] = [];
    for (let i = 0; i < ops; i++) {
      const bytes = pack!.bytes;
      const dataDir = join(fx!.dir, `consumer-${++dirCounter}`);
      dataDirs.push(dataDir);
      const client = new RuntimeClient({
        tenant: TENANT, env: ENV, channel: CHANNEL, consumerId: `bench-${dirCounter}`, trustRoot: fx!.trustRoot,
        dataDir, fetchPack: async () => bytes, newId: () => `act-${dirCounter}-${i}`,
      });
      await client.start();
      clients.push(client);
    }
    const outcomes: string[] = [];
    const t = now();
    const { peakRssBytes, startRssBytes } = await withPeakRss(async () => {
      for (const c of clients) {
        const r = await c.offer(notices[0]);
        outcomes.push(r.outcome === 'refused' ? `refused ${r.code}: ${r.message}` : r.outcome);
      }
    });
    const s = seconds(t);
    const active = clients.filter((c) => c.status().state === 'active' && c.status().packDigest === pack!.digest && c.status().entities === pack!.entities.length).length;
    // the deferred work, timed per client: first lookup (one line parsed and checked), first
    // search (every line checked, the index derived); answers checked against the pack's entities
    const mid = pack!.entities[Math.floor(pack!.entities.length / 2)];
    const firstLookupMs: number[] = [];
    const firstSearchMs: number[] = [];
    let spot = true;
    for (const c of clients) {
      let t1 = now();
      const hit = c.lookup(mid.id);
      firstLookupMs.push(Number(now() - t1) / 1e6);
      t1 = now();
      const hits = c.search(mid.title, 1000);
      firstSearchMs.push(Number(now() - t1) / 1e6);
      spot &&= hit?.id === mid.id && hit.text === mid.text && hits.some((h) => h.id === mid.id) && c.lookup('eq-0')?.id === 'eq-0';
    }
    const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    for (const c of clients) await c.stop();
    for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
    const ok = outcomes.every((o) => o === 'activated') && active === ops && spot;
    return { work: (ops * pack!.size) / MiB, seconds: s, peakRssBytes, extra: { rssGrowthMiB: (peakRssBytes - startRssBytes) / MiB, activations: ops, firstLookupMs: median(firstLookupMs), firstSearchMs: median(firstSearchMs) }, check: { ok, detail: `activated ${outcomes.filter((o) => o === 'activated').length}/${ops}, active with the right digest ${active}/${ops}, first lookup + search ${spot ? 'ok' : 'wrong'}${ok ? '' : `; ${outcomes.find((o) => o !== 'activated') ?? ''}`}` } };
  },
  async teardown() {
    fx?.dispose();
    fx = undefined;
    pack = undefined;
  },
};
