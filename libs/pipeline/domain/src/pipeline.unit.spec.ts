import fc from 'fast-check';
import { BuildProvenance, KoaRefusal, canonicalDigest, sha256Digest } from '@koa/contracts';
import { decodePack } from '@koa/pack-format';
import { PIPELINE_VERSION, runPipeline, type PipelineOptions } from './pipeline';
import { RULES, evidenceDocument } from './validate';
import { TEST_BUILDER, loadSampleSet, testSetRoot } from './testing/samples';

const good = loadSampleSet('good');
const opts = (inputs = good): PipelineOptions => ({ tenant: 'acme', snapshotSetRoot: testSetRoot(inputs), pipelineVersion: PIPELINE_VERSION, builder: TEST_BUILDER });

describe('runPipeline on samples/good', () => {
  const run = runPipeline(good, opts());

  it('runs all four stages and compiles a pack that decodes', () => {
    expect(run.stages.map((s) => [s.stage, s.ok])).toEqual([['extract', true], ['resolve', true], ['validate', true], ['compile', true]]);
    expect(run.stages[0]).toMatchObject({ stats: { inputs: 9, records: 23 } });
    expect(run.stages[1]).toMatchObject({ stats: { records: 23, entities: 21, merged: 2 } });
    if (!run.result.ok) throw new Error(run.result.message);
    const pack = decodePack(run.result.pack.bytes);
    expect(pack.digest).toBe(run.result.pack.digest);
    expect(pack.manifest.counts.entities).toBe(21);
    expect(pack.lookup('pt-seal-m37g')?.sources).toHaveLength(2);
    expect(pack.lookup('ct-ops-desk')?.sources).toHaveLength(2);
    expect(pack.search('generator load test').map((e) => e.id)[0]).toBe('proc-generator-test');
    if (!run.evidence) throw new Error('no evidence');
    expect(pack.evidence).toEqual(evidenceDocument(run.evidence));
    expect(pack.evidenceDigest).toBe(run.evidenceDigest);
    expect(pack.evidenceDigest).toBe(canonicalDigest(evidenceDocument(run.evidence)));
    expect(run.result.evidenceDigest).toBe(run.evidenceDigest);
  });

  it('provenance matches the contract, names every input and the output, and has a canonical digest', () => {
    if (!run.result.ok) throw new Error(run.result.message);
    const p = BuildProvenance.parse(run.result.provenance);
    expect(p.output).toEqual({ digest: run.result.pack.digest, size: run.result.pack.size });
    expect(p.inputs.map((i) => i.digest)).toEqual(good.map((i) => i.digest).sort());
    expect(p.parameters).toEqual({ tenant: 'acme', knownTypes: 'contact,document,equipment,faq,part,procedure,site' });
    expect(run.result.provenanceDigest).toBe(canonicalDigest(run.result.provenance));
  });

  it('any permutation of the inputs gives the same pack digest (property)', () => {
    if (!run.result.ok) throw new Error(run.result.message);
    const expected = run.result.pack.digest;
    fc.assert(
      fc.property(fc.shuffledSubarray(good, { minLength: good.length, maxLength: good.length }), (shuffled) => {
        const again = runPipeline(shuffled, opts());
        expect(again.result.ok && again.result.pack.digest).toBe(expected);
      }),
      { numRuns: 15 },
    );
  });

  it('a duplicated input (same digest) is the same build', () => {
    const again = runPipeline([...good, good[0]], opts());
    expect(again.result.ok && again.result.pack.digest).toBe(run.result.ok && run.result.pack.digest);
  });

  it('a different pipeline version or allowlist gives a different pack and provenance', () => {
    const other = runPipeline(good, { ...opts(), pipelineVersion: '1.0.1' });
    expect(other.result.ok && other.result.pack.digest).not.toBe(run.result.ok && run.result.pack.digest);
  });
});

describe('runPipeline failures stop the build', () => {
  it('samples/bad ⇒ VALIDATION_FAILED at validate, evidence names each failing rule, nothing compiled', () => {
    const bad = loadSampleSet('bad');
    const run = runPipeline(bad, opts(bad));
    expect(run.result).toMatchObject({ ok: false, stage: 'validate', code: 'VALIDATION_FAILED' });
    expect(run.stages.map((s) => [s.stage, s.ok])).toEqual([['extract', true], ['resolve', true], ['validate', false]]);
    expect('pack' in run.result).toBe(false);
    const failed = run.evidence?.results.filter((r) => !r.passed).map((r) => `${r.subject}:${r.rule}:${r.code}`).sort();
    expect(failed).toEqual([
      'ct-unknown:text-or-attributes-present:CONTENT_MISSING',
      'eq pump 7:id-format:ID_FORMAT_INVALID',
      'eq-boiler-b1:title-present:TITLE_MISSING',
      'note-rumour-1:type-known:TYPE_UNKNOWN',
    ]);
    if (!run.evidence) throw new Error('no evidence');
    expect(run.evidenceDigest).toBe(canonicalDigest(evidenceDocument(run.evidence)));
    // the document lists every failure in full and counts the passes, per rule
    const doc = evidenceDocument(run.evidence);
    expect(doc).toMatchObject({ format: 'koa-evidence/2', passed: false, counts: run.evidence.counts });
    expect(doc.rules.map((r) => r.rule)).toEqual(RULES.map((r) => r.name));
    expect(doc.rules.flatMap((r) => r.failures.map((f) => `${f.subject}:${r.rule}:${f.code}`)).sort()).toEqual(failed);
    for (const r of doc.rules) {
      const all = run.evidence.results.filter((x) => x.rule === r.rule);
      expect([r.passed, r.failed]).toEqual([all.filter((x) => x.passed).length, all.filter((x) => !x.passed).length]);
    }
    expect(run.result.ok === false && run.result.details).toMatchObject({ failed: 4, evidenceDigest: run.evidenceDigest });
  });

  it('samples/conflict ⇒ RESOLVE_CONFLICT at resolve, no evidence', () => {
    const c = loadSampleSet('conflict');
    const run = runPipeline(c, opts(c));
    expect(run.result).toMatchObject({ ok: false, stage: 'resolve', code: 'RESOLVE_CONFLICT' });
    expect(run.evidence).toBeUndefined();
  });

  it('an unsupported media type ⇒ EXTRACT_UNSUPPORTED_MEDIA at extract', () => {
    const run = runPipeline([...good, { ...good[0], mediaType: 'application/pdf', digest: good[0].digest }].slice(1), opts());
    expect(run.result).toMatchObject({ ok: false, stage: 'extract', code: 'EXTRACT_UNSUPPORTED_MEDIA' });
  });

  it('bytes that do not match their digest ⇒ BUILD_INPUT_MISSING at extract', () => {
    const tampered = { ...good[0], bytes: new TextEncoder().encode('tampered') };
    const run = runPipeline([tampered, ...good.slice(1)], opts());
    expect(run.result).toMatchObject({ ok: false, stage: 'extract', code: 'BUILD_INPUT_MISSING' });
  });

  it('no inputs ⇒ the empty pack fails validation (no-empty-pack)', () => {
    const run = runPipeline([], { ...opts(), snapshotSetRoot: sha256Digest('') });
    expect(run.result).toMatchObject({ ok: false, stage: 'validate', code: 'VALIDATION_FAILED' });
    expect(run.evidence?.results).toEqual([expect.objectContaining({ rule: 'no-empty-pack', passed: false })]);
  });

  it('malformed options are a caller bug: CONFIG_INVALID is thrown', () => {
    try {
      runPipeline(good, { ...opts(), tenant: 'a.b' });
      throw new Error('expected a refusal');
    } catch (e) {
      expect((e as KoaRefusal).code).toBe('CONFIG_INVALID');
    }
  });
});
