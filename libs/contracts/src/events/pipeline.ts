import { z } from 'zod';
import { Code, DigestSchema, ShortText, Token } from '../schema';
import { defineEvent } from './define';

export const Stage = z.enum(['extract', 'resolve', 'validate', 'compile']);

export const BuildStarted = defineEvent({
  type: 'io.koa.pipeline.build.started.v1',
  aggregate: 'build',
  producer: 'pipeline-worker',
  summary: 'A build began on a pinned snapshot set with a pinned pipeline version.',
  data: z.object({ buildId: Token, caseId: Token, taskId: Token, snapshotSetRoot: DigestSchema, inputs: z.array(DigestSchema).min(1), pipelineVersion: z.string().min(1).max(64) }),
});

export const StageCompleted = defineEvent({
  type: 'io.koa.pipeline.stage.completed.v1',
  aggregate: 'build',
  producer: 'pipeline-worker',
  summary: 'A pipeline stage finished successfully, with counts.',
  data: z.object({ buildId: Token, caseId: Token, stage: Stage, stats: z.record(z.string().max(64), z.number()) }),
});

export const StageFailed = defineEvent({
  type: 'io.koa.pipeline.stage.failed.v1',
  aggregate: 'build',
  producer: 'pipeline-worker',
  summary: 'A pipeline stage failed with a refusal code; later stages do not run.',
  data: z.object({ buildId: Token, caseId: Token, stage: Stage, code: Code, message: ShortText }),
});

export const RuleResult = z.object({
  rule: z.string().min(1).max(128),
  passed: z.boolean(),
  code: Code.optional(),
  message: ShortText.optional(),
  /** the entity or input the result is about, if any */
  subject: z.string().max(256).optional(),
});

export const ValidationRecorded = defineEvent({
  type: 'io.koa.pipeline.validation.recorded.v1',
  aggregate: 'build',
  producer: 'pipeline-worker',
  summary: 'The evidence of validation: every rule evaluated, pass or fail, with codes.',
  data: z.object({
    buildId: Token,
    caseId: Token,
    passed: z.boolean(),
    evidenceDigest: DigestSchema,
    results: z.array(RuleResult).max(2_000),
    /** results beyond the cap are counted here; the full report is hashed into evidenceDigest */
    truncated: z.number().int().nonnegative(),
  }),
});

export const BuildProvenance = z.object({
  /** SLSA v1 style: https://slsa.dev/provenance/v1 (buildDefinition + runDetails, trimmed) */
  buildType: z.literal('https://koa.dev/pipeline/v1'),
  builder: z.object({ id: z.string().min(1).max(256), version: z.string().min(1).max(64) }),
  pipelineVersion: z.string().min(1).max(64),
  inputs: z.array(z.object({ digest: DigestSchema, mediaType: z.string().max(128) })).min(1),
  snapshotSetRoot: DigestSchema,
  parameters: z.record(z.string().max(64), z.string().max(256)),
  output: z.object({ digest: DigestSchema, size: z.number().int().positive() }),
});

export const PackCompiled = defineEvent({
  type: 'io.koa.pipeline.pack.compiled.v1',
  aggregate: 'build',
  producer: 'pipeline-worker',
  summary: 'A deterministic Runtime Pack was written to the pack store, with its build provenance.',
  data: z.object({
    buildId: Token,
    caseId: Token,
    taskId: Token,
    pack: z.object({ digest: DigestSchema, size: z.number().int().positive(), mediaType: z.literal('application/vnd.koa.pack.v1+tar') }),
    manifestDigest: DigestSchema,
    evidenceDigest: DigestSchema,
    provenance: BuildProvenance,
    provenanceDigest: DigestSchema,
  }),
});

export const BuildFailed = defineEvent({
  type: 'io.koa.pipeline.build.failed.v1',
  aggregate: 'build',
  producer: 'pipeline-worker',
  summary: 'The build ended without a pack, with the code of the stage that stopped it.',
  data: z.object({ buildId: Token, caseId: Token, taskId: Token, stage: Stage, code: Code, message: ShortText }),
});
