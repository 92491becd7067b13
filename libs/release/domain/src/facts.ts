import type { AnyKoaEvent, Digest, RefusalCode } from '@koa/contracts';

/**
 * What a release asks for: the `params` of a `TaskRequested` release task, plus the Case and
 * tenant it came from. Everything the checks compare against comes from here.
 */
export interface ReleaseRequest {
  readonly tenant: string;
  readonly caseId: string;
  readonly taskId: string;
  readonly buildId: string;
  readonly env: string;
  readonly channel: string;
  readonly pack: { readonly digest: Digest; readonly size: number };
  readonly evidenceDigest: Digest;
  readonly provenanceDigest: Digest;
}

/**
 * The stored pack checked IN FULL as a koa-pack/2 archive (docs/pack-format.md §7, every step,
 * every entity line — `decodePack` in its default mode, not the runtime's deferred mode): ok, or
 * the code and detail of the first thing wrong.
 */
export type PackStructureFact =
  | { readonly ok: true; readonly entities: number }
  | { readonly ok: false; readonly code: RefusalCode; readonly detail: string };

/** Digest and size measured over the bytes actually stored in the pack store. */
export interface StoredPackMeasurement {
  readonly digest: string;
  readonly size: number;
  /**
   * The full structure check of those same bytes. Absent when it did not run (the bytes are not
   * the requested digest and size, so `pack-bytes` refuses first): the `pack-structure` check
   * treats absence as a failure (fail-closed).
   */
  readonly structure?: PackStructureFact;
}

/**
 * Environment policy as data (ARCHITECTURE.md §5.4: "prod keys only in prod; no reuse across
 * environments unless policy allows"). The seam for richer per-environment rules.
 */
export interface EnvironmentPolicy {
  /** environments this service releases to (config `ENVIRONMENTS`) */
  readonly environments: readonly string[];
  /**
   * Per target environment, the OTHER environments whose signing keys may sign for it.
   * Absent or empty (the default) ⇒ only the environment's own keys.
   */
  readonly allowKeysFrom?: Readonly<Record<string, readonly string[]>>;
}

/** The key that would sign the notice: which environment's keyring it belongs to, and its kid. */
export interface SigningKeyFact {
  readonly env: string;
  readonly kid: string;
}

/**
 * Every fact the pre-activation checks look at, gathered by the service before deciding.
 * A fact that could not be found is `undefined` or an empty history: the checks treat a missing
 * fact as a failure (fail-closed), never as "not applicable".
 */
export interface ReleaseFacts {
  readonly request: ReleaseRequest;
  /** the Case aggregate's history (`koa.evt.<tenant>.case.<caseId>`), oldest first */
  readonly caseEvents: readonly AnyKoaEvent[];
  /** the build aggregate's history (`koa.evt.<tenant>.build.<buildId>`), oldest first */
  readonly buildEvents: readonly AnyKoaEvent[];
  /** measured over the stored pack bytes; `undefined` when the pack store has no such object */
  readonly storedPack: StoredPackMeasurement | undefined;
  /** builder ids whose provenance is trusted (config `TRUSTED_BUILDERS`) */
  readonly trustedBuilders: readonly string[];
  readonly policy: EnvironmentPolicy;
  /** the key the environment's signer will use; `undefined` when there is none */
  readonly signingKey: SigningKeyFact | undefined;
}
