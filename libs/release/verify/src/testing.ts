/**
 * Test helpers for `@koa/release/verify` (alias `@koa/release/verify/testing`). NOT for
 * production: the seeded keys below are public knowledge.
 *
 * - `seededEd25519Jwk(label)`: a deterministic Ed25519 private JWK (seed = sha256(label)), so
 *   fixtures are byte-reproducible (Ed25519 signatures are deterministic, RFC 8032).
 * - `forgeCompactJws(header, payload, signature)`: assemble any compact JWS, including forgeries
 *   (`alg: none`, HS256, tampered parts) that a real signer would never produce.
 * - `sampleNoticeClaims(overrides)`: valid claims for the fixture scope.
 * - `readGoldenFixtures()`: the committed golden set under `src/__fixtures__/` and its manifest.
 */
import { createHash, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReleaseNoticeClaims, RefusalCode } from '@koa/contracts';
import type { NoticeScope } from './notice';

/** The frozen clock of the golden fixtures. */
export const FIXTURE_NOW = new Date('2026-06-01T00:00:00.000Z');
export const FIXTURE_NOW_SECONDS = Math.floor(FIXTURE_NOW.getTime() / 1000);
export const FIXTURE_SCOPE: NoticeScope = Object.freeze({ tenant: 'acme', env: 'dev', channel: 'stable' });
/** Golden notices default to version 5 verified with lastTrustedVersion 4. */
export const FIXTURE_LAST_TRUSTED_VERSION = 4;
export const FIXTURE_DIR = join(__dirname, '__fixtures__');

const digestOf = (label: string): `sha256:${string}` => `sha256:${createHash('sha256').update(label).digest('hex')}`;

/** Valid notice claims for FIXTURE_SCOPE at FIXTURE_NOW (version 5, 30 days validity). */
export function sampleNoticeClaims(overrides: Partial<ReleaseNoticeClaims> = {}): ReleaseNoticeClaims {
  return {
    iss: 'koa:konnaxion-release',
    tenant: FIXTURE_SCOPE.tenant,
    env: FIXTURE_SCOPE.env,
    channel: FIXTURE_SCOPE.channel,
    version: 5,
    releaseId: 'r-task-0005',
    caseId: 'case-0001',
    pack: { digest: digestOf('pack'), size: 4096 },
    provenanceDigest: digestOf('provenance'),
    evidenceDigest: digestOf('evidence'),
    iat: FIXTURE_NOW_SECONDS - 60,
    exp: FIXTURE_NOW_SECONDS + 30 * 86_400,
    ...overrides,
  };
}

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A deterministic Ed25519 private JWK `{kty, crv, x, d}` from a label (seed = sha256(label)). */
export function seededEd25519Jwk(label: string): { kty: 'OKP'; crv: 'Ed25519'; x: string; d: string } {
  const seed = createHash('sha256').update(`koa-fixture-key:${label}`).digest();
  const jwk = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x as string, d: jwk.d as string };
}

const b64 = (v: Uint8Array | string): string => Buffer.from(v).toString('base64url');

/**
 * Assembles a compact JWS from parts. `payload` objects are JSON-serialised as given (not
 * canonicalised). `signature` computes the signature bytes over the signing input
 * (`b64(header).b64(payload)`), or is a literal base64url string.
 */
export async function forgeCompactJws(
  header: Record<string, unknown> | string,
  payload: Record<string, unknown> | string | Uint8Array,
  signature: string | ((signingInput: Uint8Array) => Uint8Array | Promise<Uint8Array>),
): Promise<string> {
  const h = typeof header === 'string' ? header : b64(JSON.stringify(header));
  const p = payload instanceof Uint8Array ? b64(payload) : typeof payload === 'string' ? payload : b64(JSON.stringify(payload));
  const input = new TextEncoder().encode(`${h}.${p}`);
  const s = typeof signature === 'string' ? signature : b64(await signature(input));
  return `${h}.${p}.${s}`;
}

/** Flips one character in the middle of a base64url string (never the last, whose low bits may be ignored). */
export function flipBase64urlChar(value: string, at = Math.floor(value.length / 2)): string {
  const c = value[at];
  return `${value.slice(0, at)}${c === 'A' ? 'B' : 'A'}${value.slice(at + 1)}`;
}

export type GoldenExpectation = 'valid' | RefusalCode;

export interface GoldenNoticeCase {
  readonly name: string;
  readonly why: string;
  /** file (under FIXTURE_DIR) holding the compact JWS */
  readonly file: string;
  /** trust root file to verify against (env from `scope.env`) */
  readonly trustRoot: string;
  readonly scope: NoticeScope;
  readonly lastTrustedVersion: number;
  readonly now: string;
  readonly expect: GoldenExpectation;
}

export interface GoldenTrustRootCase {
  readonly name: string;
  readonly why: string;
  readonly file: string;
  readonly env: string;
  readonly previous?: string;
  readonly now: string;
  readonly expect: 'valid' | 'TRUST_ROOT_INVALID';
  /** `details.reason` of the refusal */
  readonly reason?: string;
}

export interface GoldenManifest {
  readonly note: string;
  readonly notices: readonly GoldenNoticeCase[];
  readonly trustRoots: readonly GoldenTrustRootCase[];
}

export const GOLDEN_MANIFEST_FILE = 'manifest.json';

/** Reads the committed golden manifest and gives a reader for its files. */
export function readGoldenFixtures(dir = FIXTURE_DIR): { manifest: GoldenManifest; read(file: string): string } {
  const manifest = JSON.parse(readFileSync(join(dir, GOLDEN_MANIFEST_FILE), 'utf8')) as GoldenManifest;
  return { manifest, read: (file) => readFileSync(join(dir, file), 'utf8') };
}
