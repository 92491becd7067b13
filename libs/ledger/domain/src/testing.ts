/* Test fixtures: a realistic chain of events for one release, built with createEvent. */
import {
  BuildStarted,
  CaseClosed,
  CaseOpened,
  ChannelAdvanced,
  ConsumerActivated,
  ConsumerRefused,
  createEvent,
  digestHex,
  PackCompiled,
  ReleaseActivated,
  ReleaseVerified,
  sha256Digest,
  SnapshotCaptured,
  SnapshotSetSealed,
  StageCompleted,
  TaskCompleted,
  TaskRequested,
  ValidationRecorded,
  type AnyKoaEvent,
} from '@koa/contracts';

export interface StoryIds {
  readonly tenant: string;
  readonly caseId: string;
  readonly buildId: string;
  readonly releaseId: string;
  readonly digests: readonly string[];
  readonly root: string;
  readonly packDigest: string;
}

/** Minute `n` after a fixed instant (time enters as data). */
const at = (n: number) => new Date(Date.UTC(2026, 0, 2, 9, n, 0)).toISOString();

/**
 * Events of one governed release, in stream order: two snapshots, a Case opened by an operator,
 * a build (extract ⇒ resolve ⇒ validate with evidence ⇒ compile ⇒ pack), a verified and
 * activated release, two consumers that activated it and one that refused it, the Case closed.
 */
export function releaseStoryEvents(o: { tenant?: string; tag?: string } = {}): { events: AnyKoaEvent[]; ids: StoryIds } {
  const tenant = o.tenant ?? 'acme';
  const tag = o.tag ?? '1';
  const caseId = `case-${tag}`;
  const buildId = `build-${tag}`;
  const releaseId = `rel-${tag}`;
  const contents = [`{"doc":"a${tag}"}`, `{"doc":"b${tag}"}`];
  const digests = contents.map((c) => sha256Digest(c)).sort();
  const root = sha256Digest(digests.join('\n'));
  const packDigest = sha256Digest(`pack-${tag}`);
  const evidenceDigest = sha256Digest(`evidence-${tag}`);
  const provenanceDigest = sha256Digest(`provenance-${tag}`);
  let n = 0;
  const base = (source: string, actor: string) => ({ id: `${tag}-e${++n}`, time: at(n), source, tenant, actor, correlationId: caseId });
  const events: AnyKoaEvent[] = [];
  const push = (e: unknown) => events.push(e as AnyKoaEvent);

  digests.forEach((digest, i) =>
    push(
      createEvent(SnapshotCaptured, {
        ...base('ingest-gateway', 'user:alice'),
        aggregateId: digestHex(digest),
        data: {
          digest,
          size: contents[i].length,
          mediaType: 'application/json',
          source: 'handbook',
          objectName: `${tenant}/${digestHex(digest)}`,
          provenance: { adapter: { name: 'upload', version: '1.0.0' }, sourceRef: `doc-${i}.json`, capturedAt: at(n), validators: { etag: `"e${i}"` } },
        },
      }),
    ),
  );
  push(createEvent(SnapshotSetSealed, { ...base('ingest-gateway', 'user:alice'), aggregateId: digestHex(root), data: { root, digests } }));
  push(
    createEvent(CaseOpened, {
      ...base('orgo-control', 'user:alice'),
      aggregateId: caseId,
      reason: 'quarterly handbook refresh',
      data: {
        caseId,
        trigger: {
          kind: 'operator',
          idempotencyKey: `idem-${tag}`,
          requestedBy: 'user:alice',
          reason: 'quarterly handbook refresh',
          receivedAt: at(n),
          origin: { via: 'http', address: '10.0.0.7', userAgent: 'koa-cli/1.0' },
        },
        intent: { kind: 'build-and-release', snapshotSetRoot: root, digests, env: 'prod', channel: 'stable' },
      },
    }),
  );
  push(createEvent(TaskRequested, { ...base('orgo-control', 'service:orgo-control'), aggregateId: caseId, data: { caseId, taskId: `task-b${tag}`, params: { kind: 'build', snapshotSetRoot: root, digests } } }));
  push(createEvent(BuildStarted, { ...base('pipeline-worker', 'service:pipeline-worker'), aggregateId: buildId, data: { buildId, caseId, taskId: `task-b${tag}`, snapshotSetRoot: root, inputs: digests, pipelineVersion: '1.4.0' } }));
  push(createEvent(StageCompleted, { ...base('pipeline-worker', 'service:pipeline-worker'), aggregateId: buildId, data: { buildId, caseId, stage: 'extract', stats: { documents: 2 } } }));
  push(createEvent(StageCompleted, { ...base('pipeline-worker', 'service:pipeline-worker'), aggregateId: buildId, data: { buildId, caseId, stage: 'resolve', stats: { entities: 7 } } }));
  push(
    createEvent(ValidationRecorded, {
      ...base('pipeline-worker', 'service:pipeline-worker'),
      aggregateId: buildId,
      data: {
        buildId,
        caseId,
        passed: true,
        evidenceDigest,
        results: [
          { rule: 'schema.required-fields', passed: true },
          { rule: 'links.resolve', passed: true },
          { rule: 'style.title-case', passed: false, code: 'STYLE_TITLE', message: 'advisory: title not in title case', subject: 'doc-1' },
        ],
        truncated: 0,
      },
    }),
  );
  push(createEvent(StageCompleted, { ...base('pipeline-worker', 'service:pipeline-worker'), aggregateId: buildId, data: { buildId, caseId, stage: 'validate', stats: { rules: 3 } } }));
  push(createEvent(StageCompleted, { ...base('pipeline-worker', 'service:pipeline-worker'), aggregateId: buildId, data: { buildId, caseId, stage: 'compile', stats: { bytes: 4096 } } }));
  push(
    createEvent(PackCompiled, {
      ...base('pipeline-worker', 'service:pipeline-worker'),
      aggregateId: buildId,
      data: {
        buildId,
        caseId,
        taskId: `task-b${tag}`,
        pack: { digest: packDigest, size: 4096, mediaType: 'application/vnd.koa.pack.v1+tar' },
        manifestDigest: sha256Digest(`manifest-${tag}`),
        evidenceDigest,
        provenance: {
          buildType: 'https://koa.dev/pipeline/v1',
          builder: { id: 'koa:pipeline-worker', version: '1.4.0' },
          pipelineVersion: '1.4.0',
          inputs: digests.map((digest) => ({ digest, mediaType: 'application/json' })),
          snapshotSetRoot: root,
          parameters: { locale: 'und' },
          output: { digest: packDigest, size: 4096 },
        },
        provenanceDigest,
      },
    }),
  );
  push(createEvent(TaskCompleted, { ...base('orgo-control', 'service:orgo-control'), aggregateId: caseId, data: { caseId, taskId: `task-b${tag}`, kind: 'build', outcome: 'succeeded', ref: buildId } }));
  push(
    createEvent(TaskRequested, {
      ...base('orgo-control', 'service:orgo-control'),
      aggregateId: caseId,
      data: { caseId, taskId: `task-r${tag}`, params: { kind: 'release', buildId, env: 'prod', channel: 'stable', pack: { digest: packDigest, size: 4096 }, evidenceDigest, provenanceDigest } },
    }),
  );
  push(
    createEvent(ReleaseVerified, {
      ...base('konnaxion-release', 'service:konnaxion-release'),
      aggregateId: releaseId,
      data: {
        releaseId,
        caseId,
        taskId: `task-r${tag}`,
        env: 'prod',
        channel: 'stable',
        packDigest,
        checks: ['pack-digest', 'provenance', 'evidence', 'case-request', 'policy'].map((check) => ({ check, passed: true as const })),
      },
    }),
  );
  push(createEvent(ChannelAdvanced, { ...base('konnaxion-release', 'service:konnaxion-release'), aggregateId: 'prod_stable', data: { env: 'prod', channel: 'stable', version: 3, releaseId, packDigest } }));
  push(
    createEvent(ReleaseActivated, {
      ...base('konnaxion-release', 'service:konnaxion-release'),
      aggregateId: releaseId,
      data: {
        releaseId,
        caseId,
        taskId: `task-r${tag}`,
        env: 'prod',
        channel: 'stable',
        version: 3,
        packDigest,
        packSize: 4096,
        kid: 'prod-release-2026',
        expiresAt: '2026-02-01T00:00:00.000Z',
        notice: 'eyJhbGciOiJFZERTQSJ9.e30.c2ln',
        previous: { releaseId: 'rel-0', version: 2, packDigest: sha256Digest('pack-0') },
      },
    }),
  );
  push(createEvent(TaskCompleted, { ...base('orgo-control', 'service:orgo-control'), aggregateId: caseId, data: { caseId, taskId: `task-r${tag}`, kind: 'release', outcome: 'succeeded', ref: releaseId } }));
  for (const consumerId of ['edge-7', 'edge-9']) {
    push(
      createEvent(ConsumerActivated, {
        ...base(`runtime`, `consumer:${consumerId}`),
        aggregateId: consumerId,
        data: { consumerId, env: 'prod', channel: 'stable', releaseId, version: 3, packDigest, activatedAt: at(n) },
      }),
    );
  }
  push(
    createEvent(ConsumerRefused, {
      ...base('runtime', 'consumer:edge-3'),
      aggregateId: 'edge-3',
      data: { consumerId: 'edge-3', env: 'prod', channel: 'stable', code: 'NOTICE_EXPIRED', message: 'clock skew: notice expired', version: 3, packDigest, releaseId },
    }),
  );
  push(createEvent(CaseClosed, { ...base('orgo-control', 'service:orgo-control'), aggregateId: caseId, data: { caseId, outcome: 'succeeded' } }));
  return { events, ids: { tenant, caseId, buildId, releaseId, digests, root, packDigest } };
}
