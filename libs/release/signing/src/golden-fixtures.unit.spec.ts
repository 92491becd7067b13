// The fixture generator is deterministic and its output is exactly what is committed under
// libs/release/verify/src/__fixtures__/; every generated case verifies as the manifest says.
import { isKoaRefusal } from '@koa/contracts';
import { loadTrustRoot, verifyReleaseNotice } from '@koa/release/verify';
import { readGoldenFixtures, type GoldenManifest } from '@koa/release/verify/testing';
import { buildGoldenFixtures } from '../scripts/golden-fixtures';

let generated: Map<string, string>;
beforeAll(async () => {
  generated = await buildGoldenFixtures();
});

it('regenerates the committed fixtures byte for byte', () => {
  const committed = readGoldenFixtures();
  for (const [name, content] of generated) expect({ name, content: committed.read(name) }).toEqual({ name, content });
});

it('produces notices and trust roots that verify exactly as the manifest expects', async () => {
  const manifest = JSON.parse(generated.get('manifest.json') as string) as GoldenManifest;
  const read = (f: string): string => generated.get(f) as string;
  const outcomes: Array<[string, string]> = [];
  for (const c of manifest.notices) {
    const now = new Date(c.now);
    const trustRoot = await loadTrustRoot(read(c.trustRoot), { env: c.scope.env, now });
    try {
      await verifyReleaseNotice(read(c.file), { trustRoot, scope: c.scope, lastTrustedVersion: c.lastTrustedVersion, now });
      outcomes.push([c.name, 'valid']);
    } catch (e) {
      if (!isKoaRefusal(e)) throw e;
      outcomes.push([c.name, e.code]);
    }
  }
  for (const c of manifest.trustRoots) {
    const now = new Date(c.now);
    const previous = c.previous ? await loadTrustRoot(read(c.previous), { env: c.env, now }) : undefined;
    try {
      await loadTrustRoot(read(c.file), { env: c.env, now, previous });
      outcomes.push([c.name, 'valid']);
    } catch (e) {
      if (!isKoaRefusal(e)) throw e;
      outcomes.push([c.name, `${e.code}/${String(e.details['reason'])}`]);
    }
  }
  expect(outcomes).toEqual([
    ...manifest.notices.map((c) => [c.name, c.expect]),
    ...manifest.trustRoots.map((c) => [c.name, c.expect === 'valid' ? 'valid' : `${c.expect}/${c.reason}`]),
  ]);
});
