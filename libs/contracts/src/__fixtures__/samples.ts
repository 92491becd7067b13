/**
 * One valid sample per catalog event type, for contract tests (round-trip through createEvent and
 * parseEvent). When you add an event type, add its sample here: catalog-samples.unit.spec.ts
 * fails for a type without one.
 */
import { digestHex, sha256Digest } from '../digest';
import type { CatalogEntry, KoaEventType } from '../catalog';
import type { NewEvent } from '../catalog';

export const D1 = sha256Digest('sample-1');
export const D2 = sha256Digest('sample-2');
export const D3 = sha256Digest('sample-3');
export const T0 = '2026-01-01T00:00:00.000Z';

type Sample<T extends KoaEventType> = Pick<NewEvent<Extract<CatalogEntry, { type: T }>>, 'aggregateId' | 'data'>;

/** Samples keyed by event type. `Partial` so a new type does not break typechecking elsewhere; the test enforces completeness. */
export const SAMPLES: { readonly [T in KoaEventType]?: Sample<T> } = {
  'io.koa.ingest.snapshot.captured.v1': {
    aggregateId: digestHex(D1),
    data: {
      digest: D1,
      size: 5,
      mediaType: 'application/json',
      source: 'docs',
      objectName: `acme/${digestHex(D1)}`,
      provenance: { adapter: { name: 'upload', version: '1' }, sourceRef: 'hello.json', capturedAt: T0, validators: { etag: '"abc"' } },
    },
  },
  'io.koa.ingest.snapshot.rejected.v1': {
    aggregateId: 'attempt-1',
    data: { code: 'INGEST_EMPTY', message: 'content has zero bytes', source: 'docs', sourceRef: 'empty.json', size: 0 },
  },
  'io.koa.ingest.snapshotset.sealed.v1': {
    aggregateId: digestHex(D3),
    data: { root: D3, digests: [D1, D2], label: 'nightly' },
  },
  'io.koa.orgo.case.opened.v1': {
    aggregateId: 'case-1',
    data: {
      caseId: 'case-1',
      trigger: {
        kind: 'operator',
        idempotencyKey: 'op-2026-01-01',
        requestedBy: 'user:alice',
        reason: 'weekly refresh',
        receivedAt: T0,
        origin: { via: 'http', address: '127.0.0.1', userAgent: 'curl/8' },
      },
      intent: { kind: 'build-and-release', snapshotSetRoot: D3, digests: [D1, D2], env: 'prod', channel: 'stable' },
    },
  },
  'io.koa.orgo.task.requested.v1': {
    aggregateId: 'case-1',
    data: { caseId: 'case-1', taskId: 'task-1', params: { kind: 'build', snapshotSetRoot: D3, digests: [D1, D2] } },
  },
  'io.koa.orgo.task.completed.v1': {
    aggregateId: 'case-1',
    data: { caseId: 'case-1', taskId: 'task-1', kind: 'build', outcome: 'succeeded', ref: 'b-task-1' },
  },
  'io.koa.orgo.case.closed.v1': {
    aggregateId: 'case-1',
    data: { caseId: 'case-1', outcome: 'failed', code: 'VALIDATION_FAILED', message: 'rule x failed' },
  },
  'io.koa.pipeline.build.started.v1': {
    aggregateId: 'b-task-1',
    data: { buildId: 'b-task-1', caseId: 'case-1', taskId: 'task-1', snapshotSetRoot: D3, inputs: [D1, D2], pipelineVersion: '1.0.0' },
  },
  'io.koa.pipeline.stage.completed.v1': {
    aggregateId: 'b-task-1',
    data: { buildId: 'b-task-1', caseId: 'case-1', stage: 'extract', stats: { records: 12 } },
  },
  'io.koa.pipeline.stage.failed.v1': {
    aggregateId: 'b-task-1',
    data: { buildId: 'b-task-1', caseId: 'case-1', stage: 'resolve', code: 'RESOLVE_CONFLICT', message: 'entity e1 defined twice' },
  },
  'io.koa.pipeline.validation.recorded.v1': {
    aggregateId: 'b-task-1',
    data: {
      buildId: 'b-task-1',
      caseId: 'case-1',
      passed: false,
      evidenceDigest: D2,
      results: [
        { rule: 'ids-unique', passed: true },
        { rule: 'title-present', passed: false, code: 'VALIDATION_FAILED', message: 'title missing', subject: 'entity/e1' },
      ],
      truncated: 0,
    },
  },
  'io.koa.pipeline.pack.compiled.v1': {
    aggregateId: 'b-task-1',
    data: {
      buildId: 'b-task-1',
      caseId: 'case-1',
      taskId: 'task-1',
      pack: { digest: D1, size: 2048, mediaType: 'application/vnd.koa.pack.v1+tar' },
      manifestDigest: D2,
      evidenceDigest: D2,
      provenance: {
        buildType: 'https://koa.dev/pipeline/v1',
        builder: { id: 'koa:pipeline-worker', version: '0.1.0' },
        pipelineVersion: '1.0.0',
        inputs: [{ digest: D1, mediaType: 'application/json' }],
        snapshotSetRoot: D3,
        parameters: { locale: 'none' },
        output: { digest: D1, size: 2048 },
      },
      provenanceDigest: D3,
    },
  },
  'io.koa.pipeline.build.failed.v1': {
    aggregateId: 'b-task-1',
    data: { buildId: 'b-task-1', caseId: 'case-1', taskId: 'task-1', stage: 'validate', code: 'VALIDATION_FAILED', message: '1 rule failed' },
  },
  'io.koa.release.release.verified.v1': {
    aggregateId: 'r-task-2',
    data: { releaseId: 'r-task-2', caseId: 'case-1', taskId: 'task-2', env: 'prod', channel: 'stable', packDigest: D1, checks: [{ check: 'pack-digest', passed: true }] },
  },
  'io.koa.release.release.refused.v1': {
    aggregateId: 'r-task-2',
    data: { releaseId: 'r-task-2', caseId: 'case-1', taskId: 'task-2', env: 'prod', channel: 'stable', packDigest: D1, code: 'RELEASE_PACK_DIGEST_MISMATCH', message: 'pack bytes hash to another digest' },
  },
  'io.koa.release.release.activated.v1': {
    aggregateId: 'r-task-2',
    data: {
      releaseId: 'r-task-2',
      caseId: 'case-1',
      taskId: 'task-2',
      env: 'prod',
      channel: 'stable',
      version: 2,
      packDigest: D1,
      packSize: 2048,
      kid: 'prod-release-1',
      expiresAt: '2026-01-31T00:00:00.000Z',
      notice: 'eyJhbGciOiJFZERTQSJ9.eyJ2ZXJzaW9uIjoyfQ.c2ln',
      previous: { releaseId: 'r-task-0', version: 1, packDigest: D2 },
    },
  },
  'io.koa.release.channel.advanced.v1': {
    aggregateId: 'prod_stable',
    data: { env: 'prod', channel: 'stable', version: 2, releaseId: 'r-task-2', packDigest: D1 },
  },
  'io.koa.runtime.consumer.activated.v1': {
    aggregateId: 'edge-7',
    data: { consumerId: 'edge-7', env: 'prod', channel: 'stable', releaseId: 'r-task-2', version: 2, packDigest: D1, activatedAt: T0 },
  },
  'io.koa.runtime.consumer.refused.v1': {
    aggregateId: 'edge-7',
    data: { consumerId: 'edge-7', env: 'prod', channel: 'stable', code: 'NOTICE_VERSION_ROLLBACK', message: 'version 1 is not greater than 2', version: 1, releaseId: 'r-task-0' },
  },
};
