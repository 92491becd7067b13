import { BuildFailed, CaseOpened, createEvent, KoaRefusal, ReleaseRefused, StageFailed, ValidationRecorded, sha256Digest, type AnyKoaEvent } from '@koa/contracts';
import {
  applyUpserts,
  caseStory,
  emptyRows,
  evolveAll,
  PROJECTIONS,
  releaseStory,
  renderCaseStory,
  renderReleaseStory,
  selectCaseRecords,
  selectReleaseRecords,
  type MemoryRows,
} from './index';
import { releaseStoryEvents } from './testing';

/** Given events (in stream order, seq 1..n) ⇒ the projected rows. */
const given = (events: readonly AnyKoaEvent[]): MemoryRows => events.reduce((rows, e, i) => applyUpserts(rows, evolveAll(e, { seq: i + 1 })), emptyRows());

const refusalCode = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof KoaRefusal) return e.code;
    throw e;
  }
  throw new Error('expected a refusal');
};

describe('what happened: release', () => {
  it('Given a full governed release, Then every link is there: trigger ⇒ case ⇒ snapshots ⇒ stages ⇒ evidence ⇒ pack ⇒ verification ⇒ activation ⇒ consumers', () => {
    const { events, ids } = releaseStoryEvents();
    const story = releaseStory(selectReleaseRecords(given(events), ids.tenant, ids.releaseId));

    expect(story.gaps).toEqual([]);
    expect(story.trigger).toEqual({
      kind: 'operator',
      requestedBy: 'user:alice',
      reason: 'quarterly handbook refresh',
      receivedAt: expect.any(String),
      origin: { via: 'http', address: '10.0.0.7', userAgent: 'koa-cli/1.0' },
      idempotencyKey: 'idem-1',
    });
    expect(story.case).toMatchObject({ caseId: ids.caseId, status: 'closed', outcome: 'succeeded' });
    expect(story.snapshots.map((s) => [s.digest, s.recorded, s.source])).toEqual(ids.digests.map((d) => [d, true, 'handbook']));
    expect(story.snapshots[0].provenance).toMatchObject({ adapter: { name: 'upload', version: '1.0.0' } });
    expect(story.build?.buildId).toBe(ids.buildId);
    expect(story.build?.stages.map((s) => `${s.stage}:${s.outcome}`)).toEqual(['extract:completed', 'resolve:completed', 'validate:completed', 'compile:completed']);
    expect(story.evidence).toMatchObject({ passed: true, rulesEvaluated: 3, rulesPassed: 2, rulesFailed: 1, failures: [{ rule: 'style.title-case', code: 'STYLE_TITLE' }] });
    expect(story.pack).toMatchObject({ digest: ids.packDigest, size: 4096, provenanceDigest: sha256Digest('provenance-1') });
    expect(story.verification).toMatchObject({ outcome: 'verified', code: null });
    expect(story.verification.checks).toHaveLength(5);
    expect(story.activation).toMatchObject({ version: 3, env: 'prod', channel: 'stable', kid: 'prod-release-2026', packDigest: ids.packDigest, previous: { releaseId: 'rel-0' } });
    expect(story.activation?.channelAdvancedAt).not.toBeNull();
    expect(story.consumers.map((c) => `${c.consumerId}:${c.outcome}:${c.code ?? ''}`)).toEqual(['edge-7:activated:', 'edge-9:activated:', 'edge-3:refused:NOTICE_EXPIRED']);
  });

  it('Given another tenant with the same ids, Then stories never mix tenants', () => {
    const a = releaseStoryEvents({ tenant: 'acme' });
    const b = releaseStoryEvents({ tenant: 'globex' });
    const rows = given([...a.events, ...b.events]);
    const story = releaseStory(selectReleaseRecords(rows, 'globex', b.ids.releaseId));
    expect(story.tenant).toBe('globex');
    expect(story.consumers).toHaveLength(3);
    expect(refusalCode(() => selectReleaseRecords(rows, 'initech', a.ids.releaseId))).toBe('RELEASE_NOT_FOUND');
  });

  it('When the release is unknown, Then RELEASE_NOT_FOUND; an unknown case is CASE_NOT_FOUND', () => {
    const rows = given(releaseStoryEvents().events);
    expect(refusalCode(() => selectReleaseRecords(rows, 'acme', 'nope'))).toBe('RELEASE_NOT_FOUND');
    expect(refusalCode(() => selectCaseRecords(rows, 'acme', 'nope'))).toBe('CASE_NOT_FOUND');
  });

  it('Given a refused release, Then the verification names the refusal code and there is no activation', () => {
    const { events, ids } = releaseStoryEvents();
    const upToBuild = events.slice(0, events.findIndex((e) => e.type === 'io.koa.release.release.verified.v1'));
    const refused = createEvent(ReleaseRefused, {
      id: 'refused-1',
      time: '2026-01-02T10:00:00.000Z',
      source: 'konnaxion-release',
      tenant: 'acme',
      aggregateId: ids.releaseId,
      actor: 'service:konnaxion-release',
      data: { releaseId: ids.releaseId, caseId: ids.caseId, taskId: 'task-r1', env: 'prod', channel: 'stable', packDigest: ids.packDigest, code: 'RELEASE_PROVENANCE_INVALID', message: 'builder not trusted' },
    });
    const story = releaseStory(selectReleaseRecords(given([...upToBuild, refused]), 'acme', ids.releaseId));
    expect(story.verification).toEqual({ outcome: 'refused', at: '2026-01-02T10:00:00.000Z', checks: [], code: 'RELEASE_PROVENANCE_INVALID', message: 'builder not trusted' });
    expect(story.activation).toBeNull();
    expect(story.consumers).toEqual([]);
    expect(story.case?.status).toBe('open');
  });

  it('Given a missing case and missing snapshot captures, Then the gaps say so instead of inventing links', () => {
    const { events, ids } = releaseStoryEvents();
    const withoutCase = events.filter((e) => e.type !== CaseOpened.type && e.type !== 'io.koa.orgo.case.closed.v1' && e.type !== 'io.koa.ingest.snapshot.captured.v1');
    const story = releaseStory(selectReleaseRecords(given(withoutCase), 'acme', ids.releaseId));
    expect(story.trigger).toBeNull();
    expect(story.case).toBeNull();
    expect(story.snapshots.every((s) => !s.recorded)).toBe(true);
    expect(story.gaps).toEqual(expect.arrayContaining([`no CaseOpened recorded for case ${ids.caseId}`, `no SnapshotCaptured recorded for ${ids.digests[0]}`]));
  });

  it('replaying the same events gives the same story (deep equal), and the text rendering is deterministic', () => {
    const { events, ids } = releaseStoryEvents();
    const one = releaseStory(selectReleaseRecords(given(events), 'acme', ids.releaseId));
    const two = releaseStory(selectReleaseRecords(given(events), 'acme', ids.releaseId));
    expect(two).toEqual(one);
    const text = renderReleaseStory(one);
    expect(text).toBe(renderReleaseStory(two));
    for (const needle of ['release rel-1', 'operator by user:alice', 'why: quarterly handbook refresh', 'case-1 CLOSED succeeded', 'stage validate', 'evidence    PASSED 2/3', 'x style.title-case STYLE_TITLE', ids.packDigest, 'VERIFIED', 'v3 on prod/stable', 'kid prod-release-2026', 'edge-3 REFUSED', 'NOTICE_EXPIRED']) {
      expect(text).toContain(needle);
    }
    expect(text).not.toContain('Gaps');
  });
});

describe('text rendering', () => {
  it('never prints raw control characters from event data (terminal injection): they are JSON-escaped', () => {
    const { events, ids } = releaseStoryEvents();
    const hostile = events.map((e) =>
      e.type === CaseOpened.type ? ({ ...e, data: { ...e.data, trigger: { ...(e.data as { trigger: object }).trigger, reason: 'ok\n\u001b[2JFAKE: all good' } } } as AnyKoaEvent) : e,
    );
    const text = renderReleaseStory(releaseStory(selectReleaseRecords(given(hostile), 'acme', ids.releaseId)));
    expect(text).not.toContain('\u001b');
    expect(text).toContain('why: "ok\\n\\u001b[2JFAKE: all good"');
    expect(text.split('\n').some((line) => line.startsWith('FAKE'))).toBe(false);
  });
});

describe('what happened: case', () => {
  it('Given a build that failed validation, Then the case story shows the failing stage, the evidence failures and no pack', () => {
    const { events, ids } = releaseStoryEvents({ tag: 'f' });
    const until = events.findIndex((e) => e.type === ValidationRecorded.type);
    const meta = { time: '2026-01-02T11:00:00.000Z', source: 'pipeline-worker', tenant: 'acme', aggregateId: ids.buildId, actor: 'service:pipeline-worker' };
    const failing: AnyKoaEvent[] = [
      createEvent(ValidationRecorded, {
        ...meta,
        id: 'v-1',
        data: { buildId: ids.buildId, caseId: ids.caseId, passed: false, evidenceDigest: sha256Digest('ev'), results: [{ rule: 'links.resolve', passed: false, code: 'LINK_BROKEN', message: 'doc-2 links to nowhere' }], truncated: 4 },
      }),
      createEvent(StageFailed, { ...meta, id: 'v-2', data: { buildId: ids.buildId, caseId: ids.caseId, stage: 'validate', code: 'VALIDATION_FAILED', message: '1 rule failed' } }),
      createEvent(BuildFailed, { ...meta, id: 'v-3', data: { buildId: ids.buildId, caseId: ids.caseId, taskId: 'task-bf', stage: 'validate', code: 'VALIDATION_FAILED', message: '1 rule failed' } }),
    ] as AnyKoaEvent[];
    const story = caseStory(selectCaseRecords(given([...events.slice(0, until), ...failing]), 'acme', ids.caseId));
    expect(story.builds).toHaveLength(1);
    const [b] = story.builds;
    expect(b.status).toBe('failed');
    expect(b.pack).toBeNull();
    expect(b.failure).toEqual({ stage: 'validate', code: 'VALIDATION_FAILED', message: '1 rule failed' });
    expect(b.stages.map((s) => `${s.stage}:${s.outcome}`)).toEqual(['extract:completed', 'resolve:completed', 'validate:failed']);
    expect(b.evidence).toMatchObject({ passed: false, rulesEvaluated: 5, rulesFailed: 1, truncated: 4 });
    expect(story.releases).toEqual([]);
    const text = renderCaseStory(story);
    expect(text).toContain('FAILED');
    expect(text).toContain('x links.resolve LINK_BROKEN');
    expect(text).toContain('Release      (none)');
  });

  it('every projection declares a unique name, a version and only handles catalog types it evolves', () => {
    expect(new Set(PROJECTIONS.map((p) => p.name)).size).toBe(PROJECTIONS.length);
    const { events } = releaseStoryEvents();
    for (const e of events) {
      for (const p of PROJECTIONS) if (!p.canHandle(e.type)) expect(p.evolve(e, { seq: 1 })).toEqual([]);
    }
  });
});
