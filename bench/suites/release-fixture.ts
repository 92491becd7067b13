/**
 * What the consumer-side suites share: a development keyring and the pinned trust root of one
 * environment, packs of a chosen size (koa-pack/2, real encoder), and release notices signed with
 * the real signer — exactly what konnaxion-release produces and consumers verify.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Digest, type ReleaseNoticeClaims } from '@koa/contracts';
import { encodePack, type EncodedPack, type PackEntity } from '@koa/pack-format';
import { loadTrustRoot, type TrustRoot } from '@koa/release/verify';
import { DevKeyring, signReleaseNotice } from '@koa/release/signing';
import { prng, words } from './common';

export const TENANT = 'bench';
export const ENV = 'dev';
export const CHANNEL = 'stable';

export interface ReleaseFixture {
  readonly dir: string;
  readonly keyring: DevKeyring;
  readonly trustRoot: TrustRoot;
  /** the release signer's public key as a node:crypto-ready JWK (for the anchors) */
  readonly publicJwk: { kty: 'OKP'; crv: 'Ed25519'; x: string };
  notice(version: number, pack: { digest: string; size: number }): Promise<string>;
  dispose(): void;
}

export async function releaseFixture(): Promise<ReleaseFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'koa-bench-release-'));
  const keyring = await DevKeyring.open(join(dir, 'keys'), ENV);
  const trustRoot = await loadTrustRoot(await keyring.trustRoot(), { env: ENV, now: new Date() });
  const jwk = (await keyring.releaseSigner.publicJwk()) as { kty: 'OKP'; crv: 'Ed25519'; x: string };
  return {
    dir,
    keyring,
    trustRoot,
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x },
    async notice(version, pack) {
      const iat = Math.floor(Date.now() / 1000) - 60;
      const claims: ReleaseNoticeClaims = {
        iss: 'koa:konnaxion-release', tenant: TENANT, env: ENV, channel: CHANNEL, version, releaseId: `r-bench-${version}`, caseId: `case-bench-${version}`,
        pack: { digest: pack.digest as `sha256:${string}`, size: pack.size }, provenanceDigest: sha256Digest('prov'), evidenceDigest: sha256Digest('ev'),
        iat, exp: iat + 7 * 86_400,
      };
      return signReleaseNotice(keyring.releaseSigner, claims);
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A pack of about `targetBytes` (never above it by more than the index): entities with ~16 KiB
 * of text from a small vocabulary each (so the term index stays small), plus `entityCount`
 * short entities when asked (for lookup/search suites).
 */
export function makePack(targetBytes: number, o: { minEntities?: number; label?: string } = {}): EncodedPack & { entities: PackEntity[] } {
  const rand = prng(targetBytes);
  const textChars = 16 * 1024;
  const minEntities = o.minEntities ?? 1;
  const count = Math.max(minEntities, Math.floor(targetBytes / (textChars + 1536)));
  const perText = Math.max(40, Math.floor((targetBytes / count - 1536) / 7));
  const entities: PackEntity[] = [];
  for (let i = 0; i < count; i++) {
    entities.push({
      id: `eq-${i}`,
      type: 'equipment',
      title: `Unit ${i} ${words(rand, 2)}`,
      text: words(rand, Math.max(8, Math.floor(perText))),
      attributes: { site: `site-${i % 17}`, floor: i % 9 },
      sources: [sha256Digest(`src-${i % 100}`)],
    });
  }
  const pack = encodePack({
    manifest: { tenant: TENANT, pipelineVersion: '1.0.0', snapshotSetRoot: sha256Digest(`root-${o.label ?? targetBytes}`), inputs: [{ digest: sha256Digest('src'), mediaType: 'application/x-ndjson' }] },
    entities,
    evidence: { passed: true, label: o.label ?? 'bench' },
  });
  return { ...pack, entities };
}

export const MiB = 1024 * 1024;
