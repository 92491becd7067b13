import { assertToken } from '@koa/contracts';

/**
 * The release id for a release task: `r-<taskId>`, deterministic so that a redelivered task lands
 * on the same release aggregate and is recognised as already handled. Task ids longer than 62
 * characters are refused (SUBJECT_TOKEN_INVALID) rather than truncated, so two tasks can never
 * share a release id.
 */
export const releaseIdFor = (taskId: string): string => assertToken('id', `r-${assertToken('id', taskId)}`);
