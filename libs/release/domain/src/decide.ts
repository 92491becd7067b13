import type { RefusalCode } from '@koa/contracts';
import { RELEASE_CHECKS, type CheckName, type ReleaseCheck } from './checks';
import type { ReleaseFacts } from './facts';

/** The decision before activation: every check passed (listed in order), or the first refusal. */
export type ReleaseDecision =
  | { readonly verified: true; readonly checks: readonly { readonly check: CheckName; readonly passed: true }[] }
  | { readonly verified: false; readonly check: CheckName; readonly code: RefusalCode; readonly message: string };

/**
 * Runs the pre-activation checks in order over the gathered facts and stops at the first
 * failure. Pure and total: a check that throws is a refusal with that check's code (fail-closed),
 * and there is no switch that skips a check.
 *
 * @example
 *   const d = decideRelease(facts);
 *   if (!d.verified) append(ReleaseRefused, { code: d.code, message: d.message, ... });
 */
export function decideRelease(facts: ReleaseFacts, checks: readonly ReleaseCheck[] = RELEASE_CHECKS): ReleaseDecision {
  if (checks.length === 0) throw new TypeError('decideRelease: no checks to run');
  const passed: { check: CheckName; passed: true }[] = [];
  for (const check of checks) {
    let result;
    try {
      result = check.run(facts);
    } catch (cause) {
      return { verified: false, check: check.name, code: check.code, message: `check ${check.name} could not evaluate the facts: ${(cause as Error)?.message ?? String(cause)}` };
    }
    if (!result.passed) return { verified: false, check: check.name, code: result.code, message: result.message };
    passed.push({ check: check.name, passed: true });
  }
  return { verified: true, checks: passed };
}
