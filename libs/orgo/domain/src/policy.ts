/**
 * Gate policies per environment, as data (ARCHITECTURE.md §5.2: "Policies say which gates apply
 * per environment").
 *
 * Issue 3 needs no approval gate anywhere, so every environment requires zero approvals. The seam
 * is here so that a later issue can require approvals (e.g. prod: one approval by someone other
 * than the requester) without touching the decider's shape: the decider already consults
 * `policyFor(env)` before it requests a release, and it FAILS CLOSED (refuses with
 * CASE_COMMAND_INVALID) when a policy asks for a gate it cannot evaluate yet.
 */
export interface GatePolicy {
  /** the environment this policy applies to */
  readonly env: string;
  /** approvals required before a release task may be requested (issue 3: always 0) */
  readonly approvalsRequired: number;
  /** whether an approver must be someone other than the requester (meaningful once approvalsRequired > 0) */
  readonly approverMustDifferFromRequester: boolean;
}

/** The policies in force, by environment. Unknown environments get {@link DEFAULT_POLICY}. */
export const GATE_POLICIES: Readonly<Record<string, GatePolicy>> = Object.freeze({
  dev: Object.freeze({ env: 'dev', approvalsRequired: 0, approverMustDifferFromRequester: false }),
  staging: Object.freeze({ env: 'staging', approvalsRequired: 0, approverMustDifferFromRequester: false }),
  prod: Object.freeze({ env: 'prod', approvalsRequired: 0, approverMustDifferFromRequester: true }),
});

/** The policy for environments not listed in {@link GATE_POLICIES}. */
export const DEFAULT_POLICY: Omit<GatePolicy, 'env'> = Object.freeze({ approvalsRequired: 0, approverMustDifferFromRequester: false });

/** The gate policy for an environment (pure lookup; never undefined). */
export function policyFor(env: string): GatePolicy {
  return Object.prototype.hasOwnProperty.call(GATE_POLICIES, env) ? GATE_POLICIES[env] : { env, ...DEFAULT_POLICY };
}
