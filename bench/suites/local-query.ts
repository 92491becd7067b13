import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { indexedTexts, tokenize, type PackEntity } from '@koa/pack-format';
import { RuntimeClient } from '@koa/runtime-client';
import { bySize, now, type BenchContext, type Sample, type Suite } from '../harness';
import { prng as seeded } from './common';
import { CHANNEL, ENV, TENANT, makePack, releaseFixture, type ReleaseFixture } from './release-fixture';

/**
 * local query: what a consumer answers offline from its active pack — `RuntimeClient.lookup(id)`
 * and `RuntimeClient.search(text)` — per operation, against a plain in-memory `Map.get` of the
 * same entities. Reported (no goal): it tells integrators what a query costs.
 */
const entitiesOf = (ctx: BenchContext): number => bySize(ctx, { smoke: 1_000, quick: 10_000, full: 10_000 });
const opsOf = (ctx: BenchContext, variant: string): number =>
  variant === 'lookup'
    ? bySize(ctx, { smoke: 2_000, quick: 20_000, full: 50_000 })
    : variant === 'search-specific'
      ? bySize(ctx, { smoke: 200, quick: 2_000, full: 5_000 })
      : bySize(ctx, { smoke: 10, quick: 30, full: 100 });

let fx: ReleaseFixture | undefined;
let client: RuntimeClient | undefined;
let map: Map<string, PackEntity> | undefined;
let entities: PackEntity[] = [];
let dataDir = '';
/** the pack is built once for all variants */
let cached: { n: number; pack: ReturnType<typeof makePack> } | undefined;

/**
 * Queries about a known entity (so each has at least one answer). Specific: its unit number and
 * a title word (`"4711 pump"`: few candidates, what an operator types). Broad: two title words of
 * the small vocabulary (`"pump valve"`: nearly every entity matches — the worst case).
 */
function queries(n: number, round: number, variant: string): Array<{ id: string; text: string }> {
  const rand = seeded(round * 7919);
  return Array.from({ length: n }, () => {
    const e = entities[Math.floor(rand() * entities.length)];
    const [, num, w1, w2] = e.title.split(' ');
    return { id: e.id, text: variant === 'search-broad' ? `${w1} ${w2}` : `${num} ${w1}` };
  });
}

export const localQuery: Suite = {
  name: 'local-query',
  anchorText: 'Map.get of the same entities (in memory)',
  oursText: 'RuntimeClient.lookup(id) / RuntimeClient.search(two words: specific or broad) on the active verified pack',
  metric: { kind: 'latency' },
  goal: { text: 'reported' },
  variants: () => ['lookup', 'search-specific', 'search-broad'],
  async setup(ctx) {
    fx = await releaseFixture();
    const n = entitiesOf(ctx);
    // small entities: ~600 bytes of text each
    if (cached?.n !== n) cached = { n, pack: makePack(n * 1200, { minEntities: n, label: `query-${n}` }) };
    const pack = cached.pack;
    entities = pack.entities;
    map = new Map(entities.map((e) => [e.id, e]));
    dataDir = join(fx.dir, 'consumer');
    client = new RuntimeClient({ tenant: TENANT, env: ENV, channel: CHANNEL, consumerId: 'bench-query', trustRoot: fx.trustRoot, dataDir, fetchPack: async () => pack.bytes });
    await client.start();
    const r = await client.offer(await fx.notice(1, pack));
    if (r.outcome !== 'activated') throw new Error(`local-query setup: activation ${r.outcome}${r.outcome === 'refused' ? ` ${r.code}: ${r.message}` : ''}`);
    // steady state: the first search checks every entity line and derives the index (that one-off
    // cost is reported by consumer-verify-activate as firstSearchMs), so it runs here, unmeasured
    if (client.search(entities[0].title).length === 0) throw new Error('local-query setup: the warm-up search found nothing');
  },
  async anchor(ctx, variant, round): Promise<Sample> {
    const qs = queries(opsOf(ctx, variant), round, variant);
    const lat: number[] = new Array(qs.length);
    let found = 0;
    const t0 = now();
    for (let i = 0; i < qs.length; i++) {
      const t = now();
      const e = map!.get(qs[i].id);
      lat[i] = Number(now() - t) / 1e6;
      if (e?.id === qs[i].id) found++;
    }
    const s = Number(now() - t0) / 1e9;
    return { work: qs.length, seconds: s, latenciesMs: lat, check: { ok: found === qs.length, detail: `found ${found}/${qs.length}` } };
  },
  async ours(ctx, variant, round): Promise<Sample> {
    const qs = queries(opsOf(ctx, variant), round, variant);
    const lat: number[] = new Array(qs.length);
    let right = 0;
    const t0 = now();
    for (let i = 0; i < qs.length; i++) {
      const q = qs[i];
      if (variant === 'lookup') {
        const t = now();
        const e = client!.lookup(q.id);
        lat[i] = Number(now() - t) / 1e6;
        if (e?.id === q.id && e.title === map!.get(q.id)?.title) right++;
      } else {
        const t = now();
        const hits = client!.search(q.text);
        lat[i] = Number(now() - t) / 1e6;
        // AND semantics (docs/pack-format.md): every hit has every query term; at least one hit
        const terms = tokenize(q.text);
        if (hits.length > 0 && hits.every((h) => {
          const have = new Set(indexedTexts(h).flatMap(tokenize));
          return terms.every((w) => have.has(w));
        })) right++;
      }
    }
    const s = Number(now() - t0) / 1e9;
    return { work: qs.length, seconds: s, latenciesMs: lat, check: { ok: right === qs.length, detail: `right answers ${right}/${qs.length}` } };
  },
  async teardown() {
    await client?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    fx?.dispose();
    fx = undefined;
    client = undefined;
  },
};
