import type { z } from 'zod';
import { canonicalDigest, type Digest, type BuildProvenance } from '@koa/contracts';
import { encodePack, type EncodedPack } from '@koa/pack-format';
import type { ResolvedEntity } from './resolve';
import { evidenceDocument, type EvidenceReport, type ValidationConfig } from './validate';

/** `buildType` of the provenance statement (SLSA v1 style). */
export const BUILD_TYPE = 'https://koa.dev/pipeline/v1' as const;

/** The provenance statement as data (the zod output type of the contract). */
export type BuildProvenanceData = z.output<typeof BuildProvenance>;

export interface BuilderIdentity {
  /** e.g. `https://koa.dev/builders/pipeline-worker` */
  readonly id: string;
  /** the builder software version */
  readonly version: string;
}

export interface CompileOptions {
  readonly tenant: string;
  readonly snapshotSetRoot: string;
  readonly pipelineVersion: string;
  readonly inputs: ReadonlyArray<{ digest: string; mediaType: string }>;
}

/**
 * Stage 4 — compile: the validated entities and the evidence document (koa-evidence/2, see
 * `evidenceDocument`) into a koa-pack/2 archive (`encodePack`). Refuses with PACK_FORMAT_INVALID only if something slipped past validation.
 */
export function compilePack(entities: readonly ResolvedEntity[], evidence: EvidenceReport, o: CompileOptions): EncodedPack {
  return encodePack({
    manifest: { tenant: o.tenant, pipelineVersion: o.pipelineVersion, snapshotSetRoot: o.snapshotSetRoot, inputs: o.inputs.map((i) => ({ digest: i.digest, mediaType: i.mediaType })) },
    entities, // read only: encodePack copies what it keeps
    evidence: evidenceDocument(evidence),
  });
}

/**
 * The parameters recorded in provenance: everything besides the inputs that changes the output.
 * Values are at most 256 characters (contract), so a long allowlist is recorded by its digest.
 */
export function provenanceParameters(tenant: string, config: ValidationConfig): Record<string, string> {
  const joined = config.knownTypes.join(',');
  return joined.length <= 256 ? { tenant, knownTypes: joined } : { tenant, knownTypesDigest: canonicalDigest(config.knownTypes) };
}

/**
 * The build provenance statement (`BuildProvenance` of the contracts, SLSA v1 style) for a
 * compiled pack, and its `canonicalDigest`. Pure: no build id, no time — the same build gives the
 * same statement, so two builders can be compared by provenance digest.
 */
export function buildProvenance(a: {
  builder: BuilderIdentity;
  pipelineVersion: string;
  inputs: ReadonlyArray<{ digest: string; mediaType: string }>;
  snapshotSetRoot: string;
  parameters: Record<string, string>;
  output: { digest: string; size: number };
}): { provenance: BuildProvenanceData; provenanceDigest: Digest } {
  const provenance = {
    buildType: BUILD_TYPE,
    builder: { id: a.builder.id, version: a.builder.version },
    pipelineVersion: a.pipelineVersion,
    inputs: [...a.inputs].map((i) => ({ digest: i.digest, mediaType: i.mediaType })).sort((x, y) => (x.digest < y.digest ? -1 : x.digest > y.digest ? 1 : 0)),
    snapshotSetRoot: a.snapshotSetRoot,
    parameters: { ...a.parameters },
    output: { digest: a.output.digest, size: a.output.size },
  } as BuildProvenanceData;
  return { provenance, provenanceDigest: canonicalDigest(provenance) };
}
