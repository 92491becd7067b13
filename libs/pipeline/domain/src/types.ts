import type { KoaRefusal, RefusalCode } from '@koa/contracts';

/** The four stages, in order (the `Stage` enum of the pipeline event contracts). */
export const STAGES = ['extract', 'resolve', 'validate', 'compile'] as const;
export type StageName = (typeof STAGES)[number];

/** One snapshot handed to the pipeline: its digest, its declared media type and its exact bytes. */
export interface PipelineInput {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Uint8Array;
}

export type AttributeValue = string | number | boolean | null;

/**
 * One record as extracted from one snapshot, before resolution. `location` says where in the
 * snapshot it came from (`record 3`, `line 7`, `front matter`), for messages.
 */
export interface ExtractedRecord {
  readonly id: string;
  readonly type: string;
  readonly title: string;
  readonly text: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly source: string;
  readonly location: string;
}

/** The outcome of one stage: counts on success, a refusal code on failure. */
export type StageOutcome =
  | { readonly stage: StageName; readonly ok: true; readonly stats: Readonly<Record<string, number>> }
  | { readonly stage: StageName; readonly ok: false; readonly code: RefusalCode; readonly message: string; readonly details: Readonly<Record<string, unknown>> };

/** Converts a refusal thrown inside a stage into that stage's failed outcome. */
export const failedStage = (stage: StageName, e: KoaRefusal): StageOutcome => ({ stage, ok: false, code: e.code, message: e.message.slice(0, 1024), details: e.details });
