import { canonicalDigest, type EventByType, type RefusalCode } from '@koa/contracts';
import type { ReleaseFacts } from './facts';

/** The outcome of one check: pass, or the refusal code and a message naming what was wrong. */
export type CheckResult = { readonly passed: true } | { readonly passed: false; readonly code: RefusalCode; readonly message: string };

/** Names of the pre-activation checks, in the order they run. */
export const CHECK_NAMES = ['case-requested', 'build-succeeded', 'provenance', 'pack-bytes', 'pack-structure', 'environment-policy'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

/** A pre-activation check: a pure function over gathered facts. */
export interface ReleaseCheck {
  readonly name: CheckName;
  /** the code this check refuses with */
  readonly code: RefusalCode;
  readonly run: (facts: ReleaseFacts) => CheckResult;
}

const PASS: CheckResult = Object.freeze({ passed: true });
const fail = (code: RefusalCode, message: string): CheckResult => ({ passed: false, code, message });

type TaskRequested = EventByType<'io.koa.orgo.task.requested.v1'>;
type PackCompiled = EventByType<'io.koa.pipeline.pack.compiled.v1'>;
type ValidationRecorded = EventByType<'io.koa.pipeline.validation.recorded.v1'>;

/**
 * `case-requested`: the Case exists (was opened), is not closed, and holds a `TaskRequested`
 * release task with this task id whose env, channel, build, pack, evidence and provenance are
 * exactly the ones being released. Refuses RELEASE_NOT_REQUESTED.
 */
export function checkCaseRequested(facts: ReleaseFacts): CheckResult {
  const { request, caseEvents } = facts;
  const code = 'RELEASE_NOT_REQUESTED';
  const opened = caseEvents.find((e) => e.type === 'io.koa.orgo.case.opened.v1');
  if (!opened || opened.data.caseId !== request.caseId || opened.tenantid !== request.tenant) {
    return fail(code, `case ${request.caseId} of tenant ${request.tenant} was never opened`);
  }
  if (caseEvents.some((e) => e.type === 'io.koa.orgo.case.closed.v1')) {
    return fail(code, `case ${request.caseId} is closed; a closed Case authorises no release`);
  }
  const task = caseEvents.find(
    (e): e is TaskRequested => e.type === 'io.koa.orgo.task.requested.v1' && e.data.taskId === request.taskId,
  );
  if (!task) return fail(code, `case ${request.caseId} has no task ${request.taskId}`);
  const p = task.data.params;
  if (p.kind !== 'release') return fail(code, `task ${request.taskId} of case ${request.caseId} is a ${p.kind} task, not a release`);
  const mismatch: string[] = [];
  if (task.data.caseId !== request.caseId) mismatch.push('caseId');
  if (p.env !== request.env) mismatch.push('env');
  if (p.channel !== request.channel) mismatch.push('channel');
  if (p.buildId !== request.buildId) mismatch.push('buildId');
  if (p.pack.digest !== request.pack.digest) mismatch.push('pack.digest');
  if (p.pack.size !== request.pack.size) mismatch.push('pack.size');
  if (p.evidenceDigest !== request.evidenceDigest) mismatch.push('evidenceDigest');
  if (p.provenanceDigest !== request.provenanceDigest) mismatch.push('provenanceDigest');
  if (mismatch.length > 0) {
    return fail(code, `task ${request.taskId} of case ${request.caseId} requested a different release: ${mismatch.join(', ')} differ`);
  }
  return PASS;
}

const lastOf = <T>(items: readonly T[]): T | undefined => items[items.length - 1];

const packCompiledOf = (facts: ReleaseFacts): PackCompiled | undefined =>
  lastOf(facts.buildEvents.filter((e): e is PackCompiled => e.type === 'io.koa.pipeline.pack.compiled.v1'));

/**
 * `build-succeeded`: the build exists, did not fail, its latest validation evidence passed with
 * the evidence digest being released, and it compiled exactly this pack (digest, size) with that
 * evidence. Refuses RELEASE_BUILD_NOT_PASSED.
 */
export function checkBuildSucceeded(facts: ReleaseFacts): CheckResult {
  const { request, buildEvents } = facts;
  const code = 'RELEASE_BUILD_NOT_PASSED';
  if (buildEvents.length === 0) return fail(code, `build ${request.buildId} has no recorded events`);
  const failed = buildEvents.find((e) => e.type === 'io.koa.pipeline.build.failed.v1');
  if (failed) return fail(code, `build ${request.buildId} failed (${failed.data.code} at stage ${failed.data.stage})`);
  const validation = lastOf(buildEvents.filter((e): e is ValidationRecorded => e.type === 'io.koa.pipeline.validation.recorded.v1'));
  if (!validation) return fail(code, `build ${request.buildId} has no validation evidence`);
  if (validation.data.passed !== true) return fail(code, `build ${request.buildId} validation evidence ${validation.data.evidenceDigest} did not pass`);
  if (validation.data.evidenceDigest !== request.evidenceDigest) {
    return fail(code, `build ${request.buildId} evidenceDigest ${validation.data.evidenceDigest} is not the requested ${request.evidenceDigest}`);
  }
  const compiled = packCompiledOf(facts);
  if (!compiled) return fail(code, `build ${request.buildId} compiled no pack`);
  if (compiled.data.buildId !== request.buildId) return fail(code, `PackCompiled names build ${compiled.data.buildId}, not ${request.buildId}`);
  if (compiled.data.pack.digest !== request.pack.digest) {
    return fail(code, `build ${request.buildId} compiled pack ${compiled.data.pack.digest}, not the requested ${request.pack.digest}`);
  }
  if (compiled.data.pack.size !== request.pack.size) {
    return fail(code, `build ${request.buildId} compiled a pack of ${compiled.data.pack.size} bytes, not the requested ${request.pack.size}`);
  }
  if (compiled.data.evidenceDigest !== request.evidenceDigest) {
    return fail(code, `PackCompiled evidenceDigest ${compiled.data.evidenceDigest} is not the requested ${request.evidenceDigest}`);
  }
  return PASS;
}

/**
 * `provenance`: the build provenance of the compiled pack hashes (RFC 8785 canonical JSON) to
 * the provenance digest recorded and requested, names this pack as its output, and comes from a
 * trusted builder. Refuses RELEASE_PROVENANCE_INVALID.
 */
export function checkProvenance(facts: ReleaseFacts): CheckResult {
  const { request } = facts;
  const code = 'RELEASE_PROVENANCE_INVALID';
  const compiled = packCompiledOf(facts);
  if (!compiled) return fail(code, `build ${request.buildId} has no PackCompiled provenance`);
  const { provenance, provenanceDigest } = compiled.data;
  let computed: string;
  try {
    computed = canonicalDigest(provenance);
  } catch (cause) {
    return fail(code, `provenance of build ${request.buildId} is not canonical JSON: ${(cause as Error).message}`);
  }
  if (computed !== provenanceDigest) return fail(code, `provenance hashes to ${computed}, not the recorded provenanceDigest ${provenanceDigest}`);
  if (provenanceDigest !== request.provenanceDigest) return fail(code, `provenanceDigest ${provenanceDigest} is not the requested ${request.provenanceDigest}`);
  if (provenance.output.digest !== request.pack.digest) return fail(code, `provenance output.digest ${provenance.output.digest} is not the pack ${request.pack.digest}`);
  if (provenance.output.size !== request.pack.size) return fail(code, `provenance output.size ${provenance.output.size} is not the pack size ${request.pack.size}`);
  if (!facts.trustedBuilders.includes(provenance.builder.id)) {
    return fail(code, `provenance builder.id ${JSON.stringify(provenance.builder.id)} is not a trusted builder`);
  }
  return PASS;
}

/**
 * `pack-bytes`: the bytes in the pack store hash to the requested digest and have the requested
 * size. Refuses RELEASE_PACK_DIGEST_MISMATCH (including a pack missing from the store) or
 * RELEASE_PACK_SIZE_MISMATCH.
 */
export function checkPackBytes(facts: ReleaseFacts): CheckResult {
  const { request, storedPack } = facts;
  if (!storedPack) return fail('RELEASE_PACK_DIGEST_MISMATCH', `pack ${request.pack.digest} is not in the pack store of tenant ${request.tenant}`);
  if (storedPack.digest !== request.pack.digest) {
    return fail('RELEASE_PACK_DIGEST_MISMATCH', `stored pack bytes hash to ${storedPack.digest}, not ${request.pack.digest}`);
  }
  if (storedPack.size !== request.pack.size) {
    return fail('RELEASE_PACK_SIZE_MISMATCH', `stored pack is ${storedPack.size} bytes, not the requested ${request.pack.size}`);
  }
  return PASS;
}

/**
 * `pack-structure`: the stored bytes (already known to be the requested digest and size) were
 * checked in full as a koa-pack/2 archive — archive, manifest, part digests, evidence and EVERY
 * entity line (docs/pack-format.md §7) — and passed. Runtime consumers check entity lines only on
 * first use; this is what keeps a pack with a bad line from ever being signed. A check that did
 * not run is a failure. Refuses PACK_FORMAT_INVALID (or the code the structure check reported).
 */
export function checkPackStructure(facts: ReleaseFacts): CheckResult {
  const { request, storedPack } = facts;
  const code = 'PACK_FORMAT_INVALID';
  if (!storedPack) return fail(code, `pack ${request.pack.digest} is not in the pack store of tenant ${request.tenant}`);
  const structure = storedPack.structure;
  if (!structure) return fail(code, `pack ${request.pack.digest} was not checked as a koa-pack archive`);
  if (!structure.ok) return fail(structure.code, `pack ${request.pack.digest} is not a valid koa-pack: ${structure.detail}`);
  return PASS;
}

/**
 * `environment-policy`: the target environment is one this service releases to, and the key
 * that will sign the notice belongs to that environment (or to one the policy explicitly allows
 * for it). Refuses RELEASE_POLICY_DENIED.
 */
export function checkEnvironmentPolicy(facts: ReleaseFacts): CheckResult {
  const { request, policy, signingKey } = facts;
  const code = 'RELEASE_POLICY_DENIED';
  if (!policy.environments.includes(request.env)) return fail(code, `env ${request.env} is not one of the configured environments (${policy.environments.join(',')})`);
  if (!signingKey) return fail(code, `no release signing key for env ${request.env}`);
  if (signingKey.env !== request.env && !(policy.allowKeysFrom?.[request.env] ?? []).includes(signingKey.env)) {
    return fail(code, `signing key ${signingKey.kid} belongs to env ${signingKey.env}; env ${request.env} accepts only its own keys`);
  }
  return PASS;
}

/** The pre-activation checks, in the order they run (cheap log facts first, then bytes and their structure, then policy). */
export const RELEASE_CHECKS: readonly ReleaseCheck[] = Object.freeze([
  { name: 'case-requested', code: 'RELEASE_NOT_REQUESTED', run: checkCaseRequested },
  { name: 'build-succeeded', code: 'RELEASE_BUILD_NOT_PASSED', run: checkBuildSucceeded },
  { name: 'provenance', code: 'RELEASE_PROVENANCE_INVALID', run: checkProvenance },
  { name: 'pack-bytes', code: 'RELEASE_PACK_DIGEST_MISMATCH', run: checkPackBytes },
  { name: 'pack-structure', code: 'PACK_FORMAT_INVALID', run: checkPackStructure },
  { name: 'environment-policy', code: 'RELEASE_POLICY_DENIED', run: checkEnvironmentPolicy },
]);
