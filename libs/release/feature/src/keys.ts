import { KoaRefusal } from '@koa/contracts';
import { DevKeyring, type Signer } from '@koa/release/signing';

/**
 * Where the release service gets, per environment, the signer of release notices and the signed
 * trust root consumers pin. The port lets production plug an HSM-backed implementation; the
 * default is {@link DevKeyringProvider}. Keys of one environment never sign for another unless the
 * environment policy allows it (the `environment-policy` check).
 */
export interface ReleaseKeyProvider {
  /** the environments this provider has keys for (config `ENVIRONMENTS`) */
  readonly environments: readonly string[];
  /** the release signer of `env`; refuses an unknown env with RELEASE_POLICY_DENIED */
  signerFor(env: string): Promise<{ readonly env: string; readonly signer: Signer }>;
  /** the signed trust root JSON of `env`; refuses an unknown env with NOT_FOUND */
  trustRoot(env: string): Promise<string>;
}

/** Injection token of the {@link ReleaseKeyProvider}. */
export const RELEASE_KEYS = Symbol.for('koa.release.keys');

/**
 * One `DevKeyring` per configured environment under `KEYS_DIR/<env>/`, created on first use
 * (concurrent first uses share one opening).
 */
export class DevKeyringProvider implements ReleaseKeyProvider {
  private readonly keyrings = new Map<string, Promise<DevKeyring>>();

  constructor(
    private readonly dir: string,
    readonly environments: readonly string[],
    private readonly now: () => Date,
  ) {}

  private keyring(env: string, code: 'RELEASE_POLICY_DENIED' | 'NOT_FOUND'): Promise<DevKeyring> {
    if (!this.environments.includes(env)) {
      return Promise.reject(new KoaRefusal(code, `environment ${JSON.stringify(env)} is not one of the configured ENVIRONMENTS (${this.environments.join(',')})`, { env }));
    }
    let k = this.keyrings.get(env);
    if (!k) {
      k = DevKeyring.open(this.dir, env, { now: this.now });
      k.catch(() => this.keyrings.delete(env));
      this.keyrings.set(env, k);
    }
    return k;
  }

  async signerFor(env: string): Promise<{ env: string; signer: Signer }> {
    const k = await this.keyring(env, 'RELEASE_POLICY_DENIED');
    return { env: k.env, signer: k.releaseSigner };
  }

  async trustRoot(env: string): Promise<string> {
    return (await this.keyring(env, 'NOT_FOUND')).trustRoot();
  }
}
