import { DIGEST_PATTERN, KoaRefusal, TOKEN_PATTERN, isKoaRefusal, sha256Digest, type Digest } from '@koa/contracts';
import type { PackManifest } from '@koa/pack-format';
import { buildProvenance, compilePack, provenanceParameters, type BuildProvenanceData, type BuilderIdentity } from './compile';
import { extractInput } from './extract';
import { resolveRecords, type ResolvedEntity } from './resolve';
import { failedStage, type ExtractedRecord, type PipelineInput, type StageName, type StageOutcome } from './types';
import { evidenceDigestOf, normaliseConfig, validateEntities, type EvidenceReport, type ValidationConfig } from './validate';

/** The version of the pipeline code (extract/resolve/validate rules and pack layout). */
export const PIPELINE_VERSION = '1.1.0';

export interface PipelineOptions {
  readonly tenant: string;
  readonly snapshotSetRoot: string;
  readonly pipelineVersion: string;
  readonly builder: BuilderIdentity;
  /** per-tenant validation settings; defaults to {@link DEFAULT_KNOWN_TYPES} */
  readonly validation?: Partial<ValidationConfig>;
}

export interface CompiledPack {
  readonly bytes: Uint8Array;
  readonly digest: Digest;
  readonly size: number;
  readonly manifest: PackManifest;
  readonly manifestDigest: Digest;
}

export type PipelineResult =
  | {
      readonly ok: true;
      readonly pack: CompiledPack;
      readonly evidenceDigest: Digest;
      readonly provenance: BuildProvenanceData;
      readonly provenanceDigest: Digest;
    }
  | { readonly ok: false; readonly stage: StageName; readonly code: KoaRefusal['code']; readonly message: string; readonly details: Readonly<Record<string, unknown>> };

export interface PipelineRun {
  /** one outcome per stage that ran, in order; the last one failed if `result.ok` is false */
  readonly stages: readonly StageOutcome[];
  /** present once validation ran (also when it failed) */
  readonly evidence?: EvidenceReport;
  readonly evidenceDigest?: Digest;
  readonly result: PipelineResult;
}

function assertOptions(o: PipelineOptions): void {
  const bad = (field: string, why: string): never => {
    throw new KoaRefusal('CONFIG_INVALID', `pipeline option ${field} ${why}`, { field });
  };
  if (!TOKEN_PATTERN.test(o.tenant)) bad('tenant', `must match ${TOKEN_PATTERN.source}`);
  if (!DIGEST_PATTERN.test(o.snapshotSetRoot)) bad('snapshotSetRoot', 'must be sha256:<64 hex>');
  if (o.pipelineVersion.length < 1 || o.pipelineVersion.length > 64) bad('pipelineVersion', 'must be 1..64 characters');
  if (o.builder.id.length < 1 || o.builder.id.length > 256) bad('builder.id', 'must be 1..256 characters');
  if (o.builder.version.length < 1 || o.builder.version.length > 64) bad('builder.version', 'must be 1..64 characters');
  for (const t of o.validation?.knownTypes ?? []) if (!TOKEN_PATTERN.test(t)) bad('validation.knownTypes', `entry ${JSON.stringify(t)} must match ${TOKEN_PATTERN.source}`);
}

/** Inputs sorted by digest; the same digest twice is one input; bytes must hash to their digest. */
function pinInputs(inputs: readonly PipelineInput[]): PipelineInput[] {
  const byDigest = new Map<string, PipelineInput>();
  for (const i of inputs) {
    if (sha256Digest(i.bytes) !== i.digest) {
      throw new KoaRefusal('BUILD_INPUT_MISSING', `snapshot ${String(i.digest).slice(0, 80)}: bytes do not hash to the digest`, { digest: String(i.digest).slice(0, 80) });
    }
    const prev = byDigest.get(i.digest);
    if (prev && prev.mediaType !== i.mediaType) {
      throw new KoaRefusal('BUILD_INPUT_MISSING', `snapshot ${i.digest} is given twice with media types ${prev.mediaType} and ${i.mediaType}`, { digest: i.digest });
    }
    byDigest.set(i.digest, i);
  }
  return [...byDigest.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
}

/**
 * Runs extract ⇒ resolve ⇒ validate ⇒ compile on a pinned snapshot set. Pure and deterministic:
 * no clock, no randomness, no locale, no dependence on the ORDER of `inputs` (sorted by digest
 * first), so the same inputs and options give byte-identical packs in any process.
 *
 * A stage failure is returned, not thrown: `result.ok === false` names the stage and the refusal
 * code (BUILD_INPUT_MISSING or EXTRACT_* at extract, RESOLVE_CONFLICT, VALIDATION_FAILED,
 * PACK_FORMAT_INVALID at compile) and later stages do not run — in particular a failed validation
 * compiles nothing. Throws only CONFIG_INVALID for malformed options (a caller bug, not a build
 * outcome), and lets non-refusal errors (bugs) propagate.
 *
 * @example
 * const run = runPipeline(inputs, { tenant: 'acme', snapshotSetRoot, pipelineVersion: PIPELINE_VERSION,
 *   builder: { id: 'https://koa.dev/builders/pipeline-worker', version: '1.0.0' } });
 * if (run.result.ok) store(run.result.pack.bytes);
 */
export function runPipeline(inputs: readonly PipelineInput[], o: PipelineOptions): PipelineRun {
  assertOptions(o);
  const config = normaliseConfig(o.validation);
  const stages: StageOutcome[] = [];
  const fail = (stage: StageName, e: unknown, extra: Partial<PipelineRun> = {}): PipelineRun => {
    if (!isKoaRefusal(e)) throw e;
    const outcome = failedStage(stage, e);
    stages.push(outcome);
    return { stages, ...extra, result: { ok: false, stage, code: e.code, message: e.message.slice(0, 1024), details: e.details } };
  };

  let pinned: PipelineInput[];
  const records: ExtractedRecord[] = [];
  try {
    pinned = pinInputs(inputs);
    for (const input of pinned) records.push(...extractInput(input));
  } catch (e) {
    return fail('extract', e);
  }
  stages.push({ stage: 'extract', ok: true, stats: { inputs: pinned.length, records: records.length } });

  let entities: ResolvedEntity[];
  try {
    entities = resolveRecords(records);
  } catch (e) {
    return fail('resolve', e);
  }
  stages.push({ stage: 'resolve', ok: true, stats: { records: records.length, entities: entities.length, merged: records.length - entities.length } });

  const evidence = validateEntities(entities, config);
  if (!evidence.passed) {
    const evidenceDigest = evidenceDigestOf(evidence);
    const firstFailure = evidence.results.find((r) => !r.passed);
    const e = new KoaRefusal(
      'VALIDATION_FAILED',
      `${evidence.counts.failed} of ${evidence.counts.results} rule results failed; first: ${firstFailure?.rule}${firstFailure?.subject === undefined ? '' : ` on ${firstFailure.subject}`}: ${firstFailure?.message}`,
      { failed: evidence.counts.failed, results: evidence.counts.results, evidenceDigest },
    );
    return fail('validate', e, { evidence, evidenceDigest });
  }
  stages.push({ stage: 'validate', ok: true, stats: { entities: evidence.counts.entities, results: evidence.counts.results, failed: 0 } });

  const inputList = pinned.map((i) => ({ digest: i.digest, mediaType: i.mediaType }));
  let evidenceDigest: Digest | undefined;
  try {
    const pack = compilePack(entities, evidence, { tenant: o.tenant, snapshotSetRoot: o.snapshotSetRoot, pipelineVersion: o.pipelineVersion, inputs: inputList });
    // the pack's evidence.json IS the canonical JSON of the evidence document: its part digest
    // is evidenceDigestOf(evidence), without serialising the document a second time
    evidenceDigest = pack.evidenceDigest;
    const { provenance, provenanceDigest } = buildProvenance({
      builder: o.builder,
      pipelineVersion: o.pipelineVersion,
      inputs: inputList,
      snapshotSetRoot: o.snapshotSetRoot,
      parameters: provenanceParameters(o.tenant, config),
      output: { digest: pack.digest, size: pack.size },
    });
    stages.push({ stage: 'compile', ok: true, stats: { entities: pack.manifest.counts.entities, bytes: pack.size } });
    return {
      stages,
      evidence,
      evidenceDigest,
      result: {
        ok: true,
        pack: { bytes: pack.bytes, digest: pack.digest, size: pack.size, manifest: pack.manifest, manifestDigest: pack.manifestDigest },
        evidenceDigest: pack.evidenceDigest,
        provenance,
        provenanceDigest,
      },
    };
  } catch (e) {
    return fail('compile', e, { evidence, evidenceDigest: evidenceDigest ?? evidenceDigestOf(evidence) });
  }
}
