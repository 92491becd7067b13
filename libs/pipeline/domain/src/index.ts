/**
 * `@koa/pipeline/domain`: the pure build pipeline — extract ⇒ resolve ⇒ validate ⇒ compile — with
 * validation evidence and build provenance (docs/pipeline.md). No I/O, no clock, no randomness.
 */
export { STAGES, type StageName, type StageOutcome, type PipelineInput, type ExtractedRecord, type AttributeValue } from './types';
export { extractInput, normaliseMediaType, SUPPORTED_MEDIA_TYPES, PLAIN_TEXT_TYPE, type SupportedMediaType } from './extract';
export { resolveRecords, type ResolvedEntity } from './resolve';
export {
  validateEntities,
  normaliseConfig,
  evidenceDigestOf,
  evidenceSummary,
  EVIDENCE_SUMMARY_MAX_BYTES,
  RULES,
  DEFAULT_KNOWN_TYPES,
  type Rule,
  type RuleResultData,
  type EvidenceReport,
  type ValidationConfig,
} from './validate';
export { compilePack, buildProvenance, provenanceParameters, BUILD_TYPE, type BuilderIdentity, type BuildProvenanceData, type CompileOptions } from './compile';
export { runPipeline, PIPELINE_VERSION, type PipelineOptions, type PipelineRun, type PipelineResult, type CompiledPack } from './pipeline';
