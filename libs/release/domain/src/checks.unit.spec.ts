import { CaseClosed, PackCompiled, BuildFailed, canonicalDigest, createEvent, sha256Digest, type AnyKoaEvent } from '@koa/contracts';
import { CHECK_NAMES, RELEASE_CHECKS, type CheckResult, checkBuildSucceeded, checkCaseRequested, checkEnvironmentPolicy, checkPackBytes, checkPackStructure, checkProvenance } from './checks';
import { decideRelease } from './decide';
import type { ReleaseFacts } from './facts';
import { decodePack } from '@koa/pack-format';
import { packWithMalformedEntityLine, passingFacts, releaseScenario } from './testing/scenario';

const s = releaseScenario();
const good = passingFacts(s);
const refusal = (r: CheckResult): string => (r.passed ? 'passed' : r.code);
const other = sha256Digest('something else');
const withRequest = (patch: Partial<ReleaseFacts['request']>): ReleaseFacts => ({ ...good, request: { ...good.request, ...patch } });
const replacePackCompiled = (patch: (d: Extract<AnyKoaEvent, { type: 'io.koa.pipeline.pack.compiled.v1' }>['data']) => object): AnyKoaEvent[] =>
  s.buildEvents.map((e) =>
    e.type === 'io.koa.pipeline.pack.compiled.v1'
      ? createEvent(PackCompiled, { id: 'pc2', time: e.time, source: 'pipeline-worker', tenant: e.tenantid, aggregateId: s.buildId, actor: e.actor, data: patch(e.data) as never })
      : e,
  );

describe('pre-activation checks', () => {
  it('run in the documented order, one per name', () => {
    expect(RELEASE_CHECKS.map((c) => c.name)).toEqual([...CHECK_NAMES]);
  });

  it('all pass on a consistent scenario', () => {
    for (const c of RELEASE_CHECKS) expect(refusal(c.run(good))).toBe('passed');
  });

  describe('case-requested', () => {
    it('refuses when the Case was never opened (no history)', () => {
      expect(refusal(checkCaseRequested({ ...good, caseEvents: [] }))).toBe('RELEASE_NOT_REQUESTED');
    });
    it('refuses when the Case has no task with this id', () => {
      expect(refusal(checkCaseRequested(withRequest({ taskId: 'task-other' })))).toBe('RELEASE_NOT_REQUESTED');
    });
    it('refuses when the task with this id is a build task', () => {
      expect(refusal(checkCaseRequested(withRequest({ taskId: `${s.taskId}-b` })))).toBe('RELEASE_NOT_REQUESTED');
    });
    it.each([
      ['env', { env: 'prod' }],
      ['channel', { channel: 'beta' }],
      ['buildId', { buildId: 'build-9' }],
      ['pack.digest', { pack: { digest: other, size: s.packBytes.byteLength } }],
      ['pack.size', { pack: { digest: s.packDigest, size: 999 } }],
      ['evidenceDigest', { evidenceDigest: other }],
      ['provenanceDigest', { provenanceDigest: other }],
    ])('refuses when %s differs from what the task requested, naming it', (field, patch) => {
      const r = checkCaseRequested(withRequest(patch as never));
      expect(r).toMatchObject({ passed: false, code: 'RELEASE_NOT_REQUESTED' });
      expect((r as { message: string }).message).toContain(field);
    });
    it('refuses when the Case belongs to another tenant', () => {
      expect(refusal(checkCaseRequested(withRequest({ tenant: 'other' })))).toBe('RELEASE_NOT_REQUESTED');
    });
    it('refuses when the Case is closed', () => {
      const closed = createEvent(CaseClosed, { id: 'closed', time: s.releaseTask.time, source: 'orgo-control', tenant: s.tenant, aggregateId: s.caseId, actor: 'service:orgo-control', data: { caseId: s.caseId, outcome: 'failed', code: 'VALIDATION_FAILED' } });
      expect(refusal(checkCaseRequested({ ...good, caseEvents: [...s.caseEvents, closed] }))).toBe('RELEASE_NOT_REQUESTED');
    });
  });

  describe('build-succeeded', () => {
    it('refuses when the build has no events', () => {
      expect(refusal(checkBuildSucceeded({ ...good, buildEvents: [] }))).toBe('RELEASE_BUILD_NOT_PASSED');
    });
    it('refuses when validation did not pass', () => {
      const failing = releaseScenario({ validationPassed: false });
      expect(refusal(checkBuildSucceeded(passingFacts(failing)))).toBe('RELEASE_BUILD_NOT_PASSED');
    });
    it('refuses when there is no validation evidence', () => {
      const buildEvents = s.buildEvents.filter((e) => e.type !== 'io.koa.pipeline.validation.recorded.v1');
      expect(refusal(checkBuildSucceeded({ ...good, buildEvents }))).toBe('RELEASE_BUILD_NOT_PASSED');
    });
    it('refuses when no pack was compiled', () => {
      const buildEvents = s.buildEvents.filter((e) => e.type !== 'io.koa.pipeline.pack.compiled.v1');
      expect(refusal(checkBuildSucceeded({ ...good, buildEvents }))).toBe('RELEASE_BUILD_NOT_PASSED');
    });
    it('refuses when the build failed', () => {
      const failed = createEvent(BuildFailed, { id: 'bf', time: s.releaseTask.time, source: 'pipeline-worker', tenant: s.tenant, aggregateId: s.buildId, actor: 'service:pipeline-worker', data: { buildId: s.buildId, caseId: s.caseId, taskId: 't', stage: 'compile', code: 'BUILD_INPUT_MISSING', message: 'x' } });
      expect(refusal(checkBuildSucceeded({ ...good, buildEvents: [...s.buildEvents, failed] }))).toBe('RELEASE_BUILD_NOT_PASSED');
    });
    it('refuses when the compiled pack is another digest', () => {
      expect(refusal(checkBuildSucceeded({ ...good, buildEvents: replacePackCompiled((d) => ({ ...d, pack: { ...d.pack, digest: other } })) }))).toBe('RELEASE_BUILD_NOT_PASSED');
    });
    it('refuses when the evidence digest differs from the passed evidence', () => {
      expect(refusal(checkBuildSucceeded(withRequest({ evidenceDigest: other })))).toBe('RELEASE_BUILD_NOT_PASSED');
    });
  });

  describe('provenance', () => {
    it('refuses an untrusted builder, naming it', () => {
      const r = checkProvenance({ ...good, trustedBuilders: ['koa:someone-else'] });
      expect(r).toMatchObject({ passed: false, code: 'RELEASE_PROVENANCE_INVALID' });
      expect((r as { message: string }).message).toContain('https://koa.dev/builders/pipeline-worker');
    });
    it('refuses an empty trusted-builder list (fail-closed)', () => {
      expect(refusal(checkProvenance({ ...good, trustedBuilders: [] }))).toBe('RELEASE_PROVENANCE_INVALID');
    });
    it('refuses when the provenance does not hash to its recorded digest', () => {
      const events = replacePackCompiled((d) => ({ ...d, provenance: { ...d.provenance, pipelineVersion: 'p2' } }));
      expect(refusal(checkProvenance({ ...good, buildEvents: events }))).toBe('RELEASE_PROVENANCE_INVALID');
    });
    it('refuses when the provenance output is another pack (even with a self-consistent digest)', () => {
      const provenance = { ...s.provenance, output: { digest: other, size: s.packBytes.byteLength } };
      const events = replacePackCompiled((d) => ({ ...d, provenance, provenanceDigest: canonicalDigest(provenance) }));
      const facts = { ...good, buildEvents: events, request: { ...good.request, provenanceDigest: canonicalDigest(provenance) } };
      expect(refusal(checkProvenance(facts))).toBe('RELEASE_PROVENANCE_INVALID');
    });
    it('refuses when the requested provenance digest is not the recorded one', () => {
      expect(refusal(checkProvenance(withRequest({ provenanceDigest: other })))).toBe('RELEASE_PROVENANCE_INVALID');
    });
    it('refuses when there is no PackCompiled', () => {
      expect(refusal(checkProvenance({ ...good, buildEvents: [] }))).toBe('RELEASE_PROVENANCE_INVALID');
    });
  });

  describe('pack-bytes', () => {
    it('refuses a pack missing from the store', () => {
      expect(refusal(checkPackBytes({ ...good, storedPack: undefined }))).toBe('RELEASE_PACK_DIGEST_MISMATCH');
    });
    it('refuses stored bytes that hash to another digest', () => {
      expect(refusal(checkPackBytes({ ...good, storedPack: { digest: other, size: s.packBytes.byteLength } }))).toBe('RELEASE_PACK_DIGEST_MISMATCH');
    });
    it('refuses a size mismatch', () => {
      expect(refusal(checkPackBytes({ ...good, storedPack: { digest: s.packDigest, size: s.packBytes.byteLength + 1 } }))).toBe('RELEASE_PACK_SIZE_MISMATCH');
    });
  });

  describe('pack-structure', () => {
    const stored = { digest: s.packDigest, size: s.packBytes.byteLength };
    it('passes a pack whose full structure check passed', () => {
      expect(refusal(checkPackStructure(good))).toBe('passed');
    });
    it('refuses a pack whose structure check failed, with that code and its detail', () => {
      const r = checkPackStructure({ ...good, storedPack: { ...stored, structure: { ok: false, code: 'PACK_FORMAT_INVALID', detail: 'entities.ndjson line 2: type is not a token' } } });
      expect(r).toEqual({ passed: false, code: 'PACK_FORMAT_INVALID', message: expect.stringContaining('entities.ndjson line 2: type is not a token') });
    });
    it('refuses (fail-closed) when the structure was not checked, or the pack is missing', () => {
      expect(refusal(checkPackStructure({ ...good, storedPack: stored }))).toBe('PACK_FORMAT_INVALID');
      expect(refusal(checkPackStructure({ ...good, storedPack: undefined }))).toBe('PACK_FORMAT_INVALID');
    });
    it('the scenario packs: the default one decodes in full; the malformed one only in deferred mode', () => {
      expect(decodePack(s.packBytes).entityCount).toBe(2);
      const bad = packWithMalformedEntityLine('x');
      expect(decodePack(bad, { deferEntityChecks: true }).entityCount).toBe(2);
      expect(() => decodePack(bad)).toThrow(expect.objectContaining({ code: 'PACK_FORMAT_INVALID' }));
    });
  });

  describe('environment-policy', () => {
    it('refuses an environment that is not configured', () => {
      expect(refusal(checkEnvironmentPolicy({ ...good, policy: { environments: ['staging', 'prod'] } }))).toBe('RELEASE_POLICY_DENIED');
    });
    it('refuses when there is no signing key', () => {
      expect(refusal(checkEnvironmentPolicy({ ...good, signingKey: undefined }))).toBe('RELEASE_POLICY_DENIED');
    });
    it("refuses another environment's key by default (prod keys only in prod)", () => {
      const prod = passingFacts(releaseScenario({ env: 'prod' }));
      expect(refusal(checkEnvironmentPolicy({ ...prod, signingKey: { env: 'staging', kid: 'k' } }))).toBe('RELEASE_POLICY_DENIED');
    });
    it("accepts another environment's key only where policy allows it", () => {
      const facts = { ...good, signingKey: { env: 'staging', kid: 'k' }, policy: { environments: ['dev', 'staging'], allowKeysFrom: { dev: ['staging'] } } };
      expect(refusal(checkEnvironmentPolicy(facts))).toBe('passed');
    });
  });
});

describe('decideRelease', () => {
  it('verifies when every check passes, listing the checks in order', () => {
    expect(decideRelease(good)).toEqual({ verified: true, checks: CHECK_NAMES.map((check) => ({ check, passed: true })) });
  });
  it('refuses a pack that failed the structure check after pack-bytes, before environment-policy', () => {
    const d = decideRelease({ ...good, storedPack: { digest: s.packDigest, size: s.packBytes.byteLength, structure: { ok: false, code: 'PACK_FORMAT_INVALID', detail: 'bad line' } }, signingKey: undefined });
    expect(d).toMatchObject({ verified: false, check: 'pack-structure', code: 'PACK_FORMAT_INVALID' });
  });
  it('stops at the first failing check', () => {
    const d = decideRelease({ ...good, caseEvents: [], storedPack: undefined });
    expect(d).toMatchObject({ verified: false, check: 'case-requested', code: 'RELEASE_NOT_REQUESTED' });
  });
  it('turns a check that throws into a refusal with its code (fail-closed)', () => {
    const d = decideRelease({ ...good, buildEvents: undefined as never });
    expect(d).toMatchObject({ verified: false, check: 'build-succeeded', code: 'RELEASE_BUILD_NOT_PASSED' });
  });
  it('refuses to decide with no checks', () => {
    expect(() => decideRelease(good, [])).toThrow(TypeError);
  });
});
