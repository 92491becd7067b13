import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { assertToken, KoaRefusal } from '@koa/contracts';
import { SignedTrustRootSchema, TrustRootDocumentSchema } from '@koa/release/verify';
import { fsyncDir, LocalKeyFileSigner } from './key-file';
import { createTrustRoot, type SignedTrustRootJson } from './trust-root';

export interface DevKeyringOptions {
  /** edge clock for trust root expiry; default `() => new Date()` */
  readonly now?: () => Date;
  /** lifetime of an issued trust root; default 365 days. Re-issued (version + 1) past half of it. */
  readonly trustRootValidityDays?: number;
}

const DAY_MS = 86_400_000;

/**
 * Development keys for ONE environment, generated on first use under `<dir>/<env>/`:
 * `root.key.jwk` (root role), `release.key.jwk` (release role), `trust-root.json` (the signed
 * trust root consumers pin). Distinct environments get distinct keys and roots. Not for
 * production: keys are plain files (0600); production keys belong in an HSM (PKCS#11 signer,
 * roadmap) with the root key offline.
 *
 * @example
 * const keyring = await DevKeyring.open('./.koa/keys', 'dev');
 * const jws = await signReleaseNotice(keyring.releaseSigner, claims);
 * const pinned = await keyring.trustRoot(); // serve at GET /v1/trust/dev
 */
export class DevKeyring {
  private cached: { json: SignedTrustRootJson; renewAt: number } | undefined;

  private constructor(
    readonly env: string,
    readonly dir: string,
    readonly rootSigner: LocalKeyFileSigner,
    readonly releaseSigner: LocalKeyFileSigner,
    private readonly now: () => Date,
    private readonly validityMs: number,
  ) {}

  static async open(dir: string, env: string, o: DevKeyringOptions = {}): Promise<DevKeyring> {
    assertToken('env', env);
    const validityDays = o.trustRootValidityDays ?? 365;
    if (!(validityDays > 0)) throw new KoaRefusal('CONFIG_INVALID', `DevKeyring: trustRootValidityDays ${validityDays} must be positive`);
    const envDir = join(dir, env);
    await fs.mkdir(envDir, { recursive: true, mode: 0o700 });
    const rootSigner = await LocalKeyFileSigner.openOrCreate(join(envDir, 'root.key.jwk'));
    const releaseSigner = await LocalKeyFileSigner.openOrCreate(join(envDir, 'release.key.jwk'));
    return new DevKeyring(env, envDir, rootSigner, releaseSigner, o.now ?? (() => new Date()), validityDays * DAY_MS);
  }

  /** path of the signed trust root file */
  get trustRootFile(): string {
    return join(this.dir, 'trust-root.json');
  }

  /**
   * The signed trust root JSON for this environment. Issued on first call (version 1); re-issued
   * as version N+1 (same root key, so consumers pinned to N accept it) when the stored one is past
   * half its lifetime or does not list the current keys.
   */
  async trustRoot(): Promise<SignedTrustRootJson> {
    const now = this.now().getTime();
    if (this.cached && now < this.cached.renewAt) return this.cached.json;
    const existing = await this.readExisting();
    if (existing && now < existing.renewAt && existing.listsCurrentKeys) {
      this.cached = { json: existing.json, renewAt: existing.renewAt };
      return existing.json;
    }
    const json = await createTrustRoot({
      env: this.env,
      version: (existing?.version ?? 0) + 1,
      expires: new Date(now + this.validityMs),
      rootSigners: [this.rootSigner],
      releaseKeys: [{ kid: this.releaseSigner.kid, jwk: await this.releaseSigner.publicJwk() }],
    });
    await writeAtomically(this.trustRootFile, json);
    this.cached = { json, renewAt: now + this.validityMs / 2 };
    return json;
  }

  /** Reads our own file's document (its signature is checked by every consumer that loads it). */
  private async readExisting(): Promise<{ json: string; version: number; renewAt: number; listsCurrentKeys: boolean } | undefined> {
    let json: string;
    try {
      json = await fs.readFile(this.trustRootFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const envelope = SignedTrustRootSchema.parse(JSON.parse(json));
      const doc = TrustRootDocumentSchema.parse(JSON.parse(Buffer.from(envelope.payload, 'base64url').toString('utf8')));
      if (doc.env !== this.env) throw new Error(`env ${doc.env}`);
      const issued = Date.parse(doc.expires) - this.validityMs;
      return {
        json,
        version: doc.version,
        renewAt: issued + this.validityMs / 2,
        listsCurrentKeys: doc.roles.root.kids.includes(this.rootSigner.kid) && doc.roles.release.kids.includes(this.releaseSigner.kid),
      };
    } catch (cause) {
      throw new KoaRefusal('TRUST_ROOT_INVALID', `DevKeyring: ${this.trustRootFile} is not a trust root for ${this.env}; move it away to re-issue`, { reason: 'dev-keyring-file' }, { cause });
    }
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const handle = await fs.open(tmp, 'wx', 0o644);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
  await fsyncDir(join(file, '..'));
}
