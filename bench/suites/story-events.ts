/**
 * A realistic event history for the ledger suites: per Case, the story the services tell —
 * opened ⇒ build requested ⇒ build started ⇒ stage ⇒ evidence ⇒ pack compiled ⇒ task completed ⇒
 * release verified ⇒ activated ⇒ channel advanced ⇒ a consumer activated ⇒ closed — 12 events,
 * built with the real `createEvent` (data modelled on the contract samples) with per-Case ids.
 */
import { createEvent, EVENT_CATALOG, sha256Digest, subjectOf, type CatalogEntry, type KoaEvent, type NewEvent } from '@koa/contracts';

const D1 = sha256Digest('bench-1');
const D2 = sha256Digest('bench-2');
const D3 = sha256Digest('bench-3');
const T0 = '2026-01-01T00:00:00.000Z';

/** Per event type: aggregate id and data, with the ids CASE, TB (build task), B (build), TR, R, EDGE to substitute. */
const STORY: ReadonlyArray<readonly [string, { aggregateId: string; data: unknown }]> = [
  ['io.koa.orgo.case.opened.v1', { aggregateId: 'CASE', data: { caseId: 'CASE', trigger: { kind: 'operator', idempotencyKey: 'key-CASE', requestedBy: 'user:bench', reason: 'bench', receivedAt: T0, origin: { via: 'http', address: '127.0.0.1', userAgent: 'bench' } }, intent: { kind: 'build-and-release', snapshotSetRoot: D3, digests: [D1, D2], env: 'prod', channel: 'stable' } } }],
  ['io.koa.orgo.task.requested.v1', { aggregateId: 'CASE', data: { caseId: 'CASE', taskId: 'TB', params: { kind: 'build', snapshotSetRoot: D3, digests: [D1, D2] } } }],
  ['io.koa.pipeline.build.started.v1', { aggregateId: 'B', data: { buildId: 'B', caseId: 'CASE', taskId: 'TB', snapshotSetRoot: D3, inputs: [D1, D2], pipelineVersion: '1.0.0' } }],
  ['io.koa.pipeline.stage.completed.v1', { aggregateId: 'B', data: { buildId: 'B', caseId: 'CASE', stage: 'extract', stats: { records: 12 } } }],
  ['io.koa.pipeline.validation.recorded.v1', { aggregateId: 'B', data: { buildId: 'B', caseId: 'CASE', passed: true, evidenceDigest: D2, results: [{ rule: 'ids-unique', passed: true }, { rule: 'title-present', passed: true }], truncated: 0 } }],
  ['io.koa.pipeline.pack.compiled.v1', { aggregateId: 'B', data: { buildId: 'B', caseId: 'CASE', taskId: 'TB', pack: { digest: D1, size: 2048, mediaType: 'application/vnd.koa.pack.v1+tar' }, manifestDigest: D2, evidenceDigest: D2, provenance: { buildType: 'https://koa.dev/pipeline/v1', builder: { id: 'koa:pipeline-worker', version: '0.1.0' }, pipelineVersion: '1.0.0', inputs: [{ digest: D1, mediaType: 'application/json' }], snapshotSetRoot: D3, parameters: { locale: 'none' }, output: { digest: D1, size: 2048 } }, provenanceDigest: D3 } }],
  ['io.koa.orgo.task.completed.v1', { aggregateId: 'CASE', data: { caseId: 'CASE', taskId: 'TB', kind: 'build', outcome: 'succeeded', ref: 'B' } }],
  ['io.koa.release.release.verified.v1', { aggregateId: 'R', data: { releaseId: 'R', caseId: 'CASE', taskId: 'TR', env: 'prod', channel: 'stable', packDigest: D1, checks: [{ check: 'pack-digest', passed: true }] } }],
  ['io.koa.release.release.activated.v1', { aggregateId: 'R', data: { releaseId: 'R', caseId: 'CASE', taskId: 'TR', env: 'prod', channel: 'stable', version: 2, packDigest: D1, packSize: 2048, kid: 'prod-release-1', expiresAt: '2026-01-31T00:00:00.000Z', notice: 'eyJhbGciOiJFZERTQSJ9.eyJ2ZXJzaW9uIjoyfQ.c2ln', previous: { releaseId: 'R-prev', version: 1, packDigest: D2 } } }],
  ['io.koa.release.channel.advanced.v1', { aggregateId: 'prod_stable', data: { env: 'prod', channel: 'stable', version: 2, releaseId: 'R', packDigest: D1 } }],
  ['io.koa.runtime.consumer.activated.v1', { aggregateId: 'EDGE', data: { consumerId: 'EDGE', env: 'prod', channel: 'stable', releaseId: 'R', version: 2, packDigest: D1, activatedAt: T0 } }],
  ['io.koa.orgo.case.closed.v1', { aggregateId: 'CASE', data: { caseId: 'CASE', outcome: 'failed', code: 'VALIDATION_FAILED', message: 'rule x failed' } }],
];
export const EVENTS_PER_CASE = STORY.length;

const templates = STORY.map(([type, sample]) => {
  const def = EVENT_CATALOG.find((d) => d.type === type);
  if (!def) throw new Error(`story-events: no catalog entry for ${type}`);
  return { def, json: JSON.stringify(sample) };
});

/** One stored message: the NATS subject and the exact bytes published. */
export interface StoryMessage {
  readonly subject: string;
  readonly bytes: Uint8Array;
  readonly msgId: string;
}

/** `cases × 12` events of tenant `tenant`, ids unique per `tag`. */
export function storyEvents(tenant: string, cases: number, tag: string): StoryMessage[] {
  const out: StoryMessage[] = [];
  const enc = new TextEncoder();
  for (let c = 0; c < cases; c++) {
    templates.forEach(({ def, json }, k) => {
      const sample = JSON.parse(
        json
          .replaceAll('"CASE"', `"case-${tag}-${c}"`)
          .replaceAll('key-CASE', `key-${tag}-${c}`)
          .replaceAll('"TB"', `"tb-${tag}-${c}"`)
          .replaceAll('"B"', `"b-${tag}-${c}"`)
          .replaceAll('"TR"', `"tr-${tag}-${c}"`)
          .replaceAll('"R"', `"r-${tag}-${c}"`)
          .replaceAll('"R-prev"', `"r-${tag}-${c}-prev"`)
          .replaceAll('"EDGE"', `"edge-${c % 50}"`),
      ) as Pick<NewEvent<CatalogEntry>, 'aggregateId' | 'data'>;
      const event: KoaEvent = createEvent(def, {
        ...sample,
        id: `${tag}-${c}-${k}`,
        time: new Date(Date.UTC(2026, 0, 1) + c * 1000 + k).toISOString(),
        source: def.producer,
        tenant,
        actor: 'service:bench',
        correlationId: `case-${tag}-${c}`,
      } as NewEvent<CatalogEntry>);
      out.push({ subject: subjectOf(event), bytes: enc.encode(JSON.stringify(event)), msgId: `${event.source}#${event.id}` });
    });
  }
  return out;
}
