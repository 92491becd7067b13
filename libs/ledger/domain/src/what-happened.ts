import { KoaRefusal } from '@koa/contracts';
import {
  rowKey,
  type BuildRow,
  type CaseRow,
  type ConsumerRow,
  type EvidenceRow,
  type MemoryRows,
  type ReleaseRow,
  type SnapshotRow,
  type StageRow,
} from './projections';

/**
 * "What happened?" assembled from projection rows alone (ARCHITECTURE.md §5.7), by pure
 * functions. The data-access layer loads {@link ReleaseRecords} / {@link CaseRecords} with the
 * selection rules documented on each field; {@link selectReleaseRecords} is the same selection
 * over the in-memory store.
 *
 * A missing link is never invented: it is `null` and named in `gaps`.
 */

export const STAGE_ORDER = ['extract', 'resolve', 'validate', 'compile'] as const;

/** Rows that answer "what happened" for one release. */
export interface ReleaseRecords {
  /** releases[tenant, releaseId] */
  readonly release: ReleaseRow;
  /** cases[tenant, release.caseId] */
  readonly case?: CaseRow;
  /** builds with buildId = …, tenant and caseId = release.caseId */
  readonly builds: readonly BuildRow[];
  /** build_stages of those builds */
  readonly stages: readonly StageRow[];
  /** evidence of those builds */
  readonly evidence: readonly EvidenceRow[];
  /** snapshots whose digest is in the case intent's digests or a build's inputs */
  readonly snapshots: readonly SnapshotRow[];
  /** consumers with releaseId = this release, or with no releaseId but the same env, channel and pack digest */
  readonly consumers: readonly ConsumerRow[];
}

/** Rows that answer "what happened" for one Case. */
export interface CaseRecords {
  readonly case: CaseRow;
  readonly builds: readonly BuildRow[];
  readonly stages: readonly StageRow[];
  readonly evidence: readonly EvidenceRow[];
  readonly snapshots: readonly SnapshotRow[];
  /** releases with caseId = this case */
  readonly releases: readonly ReleaseRow[];
  /** consumers of those releases (same rule as ReleaseRecords.consumers) */
  readonly consumers: readonly ConsumerRow[];
}

export interface TriggerView {
  readonly kind: string;
  readonly requestedBy: string;
  readonly reason: string;
  readonly receivedAt: string;
  readonly origin: unknown;
  readonly idempotencyKey: string;
}

export interface CaseView {
  readonly caseId: string;
  readonly status: CaseRow['status'];
  readonly outcome: CaseRow['outcome'];
  readonly code: string | null;
  readonly message: string | null;
  readonly openedAt: string | null;
  readonly closedAt: string | null;
  readonly intent: unknown;
}

export interface SnapshotView {
  readonly digest: string;
  /** false when the case names the digest but no SnapshotCaptured was recorded for it */
  readonly recorded: boolean;
  readonly size?: number;
  readonly mediaType?: string;
  readonly source?: string;
  readonly capturedBy?: string;
  readonly capturedAt?: string;
  readonly provenance?: unknown;
}

export interface StageView {
  readonly stage: string;
  readonly outcome: StageRow['outcome'];
  readonly at: string;
  readonly stats?: Record<string, number>;
  readonly code?: string;
  readonly message?: string;
}

export interface EvidenceView {
  readonly passed: boolean;
  readonly evidenceDigest: string;
  readonly rulesEvaluated: number;
  readonly rulesPassed: number;
  readonly rulesFailed: number;
  readonly truncated: number;
  readonly failures: EvidenceRow['failures'];
  readonly recordedAt: string;
}

export interface PackView {
  readonly digest: string;
  readonly size: number | null;
  readonly mediaType: string | null;
  readonly manifestDigest: string | null;
  readonly provenanceDigest: string | null;
  readonly provenance: unknown;
}

export interface BuildView {
  readonly buildId: string;
  readonly status: BuildRow['status'];
  readonly pipelineVersion: string | null;
  readonly snapshotSetRoot: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly stages: readonly StageView[];
  readonly evidence: EvidenceView | null;
  readonly pack: PackView | null;
  readonly failure: { readonly stage: string | null; readonly code: string | null; readonly message: string | null } | null;
}

export interface VerificationView {
  readonly outcome: 'verified' | 'refused' | 'not-recorded';
  readonly at: string | null;
  readonly checks: readonly { readonly check: string; readonly passed: boolean }[];
  readonly code: string | null;
  readonly message: string | null;
}

export interface ActivationView {
  readonly version: number | null;
  readonly env: string;
  readonly channel: string;
  readonly kid: string | null;
  readonly packDigest: string | null;
  readonly packSize: number | null;
  readonly expiresAt: string | null;
  readonly noticeDigest: string | null;
  readonly activatedAt: string | null;
  readonly channelAdvancedAt: string | null;
  readonly previous: unknown;
}

export interface ConsumerView {
  readonly consumerId: string;
  readonly outcome: ConsumerRow['outcome'];
  readonly at: string;
  readonly version: number | null;
  readonly packDigest: string | null;
  readonly code: string | null;
  readonly message: string | null;
}

/** The answer for one release: trigger ⇒ Case ⇒ snapshots ⇒ build stages ⇒ evidence ⇒ pack ⇒ verification ⇒ activation ⇒ consumers. */
export interface ReleaseStory {
  readonly kind: 'release';
  readonly tenant: string;
  readonly releaseId: string;
  readonly env: string;
  readonly channel: string;
  readonly trigger: TriggerView | null;
  readonly case: CaseView | null;
  readonly snapshots: readonly SnapshotView[];
  /** the build whose pack the release names (or the case's latest build if none matches) */
  readonly build: BuildView | null;
  readonly evidence: EvidenceView | null;
  readonly pack: PackView | null;
  readonly verification: VerificationView;
  readonly activation: ActivationView | null;
  readonly consumers: readonly ConsumerView[];
  /** links that the records do not contain, in plain words */
  readonly gaps: readonly string[];
}

export interface ReleaseSummary {
  readonly releaseId: string;
  readonly env: string;
  readonly channel: string;
  readonly verification: VerificationView;
  readonly activation: ActivationView | null;
  readonly consumers: readonly ConsumerView[];
}

/** The answer for one Case: its trigger, snapshots, every build, every release. */
export interface CaseStory {
  readonly kind: 'case';
  readonly tenant: string;
  readonly caseId: string;
  readonly trigger: TriggerView | null;
  readonly case: CaseView;
  readonly snapshots: readonly SnapshotView[];
  readonly builds: readonly BuildView[];
  readonly releases: readonly ReleaseSummary[];
  readonly gaps: readonly string[];
}

// ---- assembly -----------------------------------------------------------------------------

const bySeq = <T extends { firstSeq: number }>(a: T, b: T) => a.firstSeq - b.firstSeq;

function triggerView(c: CaseRow | undefined): TriggerView | null {
  const t = c?.trigger as Partial<TriggerView> | null | undefined;
  if (!t || typeof t !== 'object') return null;
  return {
    kind: String(t.kind),
    requestedBy: String(t.requestedBy),
    reason: String(t.reason),
    receivedAt: String(t.receivedAt),
    origin: t.origin ?? null,
    idempotencyKey: String(t.idempotencyKey),
  };
}

function caseView(c: CaseRow): CaseView {
  return { caseId: c.caseId, status: c.status, outcome: c.outcome, code: c.code, message: c.message, openedAt: c.openedAt, closedAt: c.closedAt, intent: c.intent ?? null };
}

function intentDigests(c: CaseRow | undefined): string[] {
  const intent = c?.intent as { digests?: unknown } | null | undefined;
  return Array.isArray(intent?.digests) ? intent.digests.filter((d): d is string => typeof d === 'string') : [];
}

function snapshotViews(digests: readonly string[], rows: readonly SnapshotRow[], gaps: string[]): SnapshotView[] {
  const byDigest = new Map(rows.map((r) => [r.digest, r]));
  return [...new Set(digests)].map((digest) => {
    const r = byDigest.get(digest);
    if (!r) {
      gaps.push(`no SnapshotCaptured recorded for ${digest}`);
      return { digest, recorded: false };
    }
    return { digest, recorded: true, size: r.size, mediaType: r.mediaType, source: r.source, capturedBy: r.capturedBy, capturedAt: r.capturedAt, provenance: r.provenance };
  });
}

function evidenceView(e: EvidenceRow | undefined): EvidenceView | null {
  if (!e) return null;
  return {
    passed: e.passed,
    evidenceDigest: e.evidenceDigest,
    rulesEvaluated: e.rulesEvaluated,
    rulesPassed: e.rulesPassed,
    rulesFailed: e.rulesFailed,
    truncated: e.truncated,
    failures: e.failures,
    recordedAt: e.recordedAt,
  };
}

function buildView(b: BuildRow, stages: readonly StageRow[], evidence: readonly EvidenceRow[]): BuildView {
  const mine = stages
    .filter((s) => s.buildId === b.buildId)
    .sort((x, y) => STAGE_ORDER.indexOf(x.stage as never) - STAGE_ORDER.indexOf(y.stage as never) || x.seq - y.seq)
    .map(
      (s): StageView => ({
        stage: s.stage,
        outcome: s.outcome,
        at: s.at,
        ...(s.stats !== null && { stats: s.stats }),
        ...(s.code !== null && { code: s.code }),
        ...(s.message !== null && { message: s.message }),
      }),
    );
  return {
    buildId: b.buildId,
    status: b.status,
    pipelineVersion: b.pipelineVersion,
    snapshotSetRoot: b.snapshotSetRoot,
    startedAt: b.startedAt,
    finishedAt: b.finishedAt,
    stages: mine,
    evidence: evidenceView(evidence.find((e) => e.buildId === b.buildId)),
    pack: b.packDigest
      ? { digest: b.packDigest, size: b.packSize, mediaType: b.packMediaType, manifestDigest: b.manifestDigest, provenanceDigest: b.provenanceDigest, provenance: b.provenance ?? null }
      : null,
    failure: b.status === 'failed' ? { stage: b.failureStage, code: b.failureCode, message: b.failureMessage } : null,
  };
}

function verificationView(r: ReleaseRow): VerificationView {
  if (r.refusedCode !== null) {
    return { outcome: 'refused', at: r.refusedAt, checks: r.checks ?? [], code: r.refusedCode, message: r.refusedMessage };
  }
  if (r.verifiedAt !== null) return { outcome: 'verified', at: r.verifiedAt, checks: r.checks ?? [], code: null, message: null };
  return { outcome: 'not-recorded', at: null, checks: [], code: null, message: null };
}

function activationView(r: ReleaseRow): ActivationView | null {
  if (r.activatedAt === null && r.channelAdvancedAt === null) return null;
  return {
    version: r.version,
    env: r.env,
    channel: r.channel,
    kid: r.kid,
    packDigest: r.packDigest,
    packSize: r.packSize,
    expiresAt: r.expiresAt,
    noticeDigest: r.noticeDigest,
    activatedAt: r.activatedAt,
    channelAdvancedAt: r.channelAdvancedAt,
    previous: r.previous ?? null,
  };
}

/** True if a consumer row is about this release (the selection rule of ReleaseRecords.consumers). */
export function consumerMatchesRelease(c: ConsumerRow, r: ReleaseRow): boolean {
  if (c.tenant !== r.tenant) return false;
  if (c.releaseId !== null) return c.releaseId === r.releaseId;
  return c.env === r.env && c.channel === r.channel && r.packDigest !== null && c.packDigest === r.packDigest;
}

function consumerViews(rows: readonly ConsumerRow[], r: ReleaseRow): ConsumerView[] {
  return rows
    .filter((c) => consumerMatchesRelease(c, r))
    .sort((a, b) => a.seq - b.seq)
    .map((c) => ({ consumerId: c.consumerId, outcome: c.outcome, at: c.at, version: c.version, packDigest: c.packDigest, code: c.code, message: c.message }));
}

/** Assembles the release story. Pure: same records ⇒ same story (deep equal). */
export function releaseStory(records: ReleaseRecords): ReleaseStory {
  const { release: r } = records;
  const gaps: string[] = [];
  const c = records.case;
  if (!r.caseId) gaps.push(`release ${r.releaseId} names no Case (no ReleaseVerified/Refused/Activated recorded)`);
  else if (!c) gaps.push(`no CaseOpened recorded for case ${r.caseId}`);
  const trigger = triggerView(c);
  if (c && !trigger) gaps.push(`case ${c.caseId} has no recorded trigger`);
  const builds = [...records.builds].sort(bySeq);
  const producing = (r.packDigest && builds.find((b) => b.packDigest === r.packDigest)) || builds[builds.length - 1];
  if (!producing) gaps.push(`no build recorded for case ${r.caseId ?? '(unknown)'}`);
  else if (r.packDigest && producing.packDigest !== r.packDigest) gaps.push(`no build recorded that produced pack ${r.packDigest}`);
  const build = producing ? buildView(producing, records.stages, records.evidence) : null;
  if (build && !build.evidence) gaps.push(`no validation evidence recorded for build ${build.buildId}`);
  const digests = [...intentDigests(c), ...(producing?.inputs ?? [])];
  const verification = verificationView(r);
  if (verification.outcome === 'not-recorded') gaps.push(`no verification recorded for release ${r.releaseId}`);
  return {
    kind: 'release',
    tenant: r.tenant,
    releaseId: r.releaseId,
    env: r.env,
    channel: r.channel,
    trigger,
    case: c ? caseView(c) : null,
    snapshots: snapshotViews(digests, records.snapshots, gaps),
    build,
    evidence: build?.evidence ?? null,
    pack: build?.pack ?? null,
    verification,
    activation: activationView(r),
    consumers: consumerViews(records.consumers, r),
    gaps,
  };
}

/** Assembles the Case story. Pure. */
export function caseStory(records: CaseRecords): CaseStory {
  const c = records.case;
  const gaps: string[] = [];
  const trigger = triggerView(c);
  if (!trigger) gaps.push(`case ${c.caseId} has no recorded trigger (no CaseOpened)`);
  const builds = [...records.builds].sort(bySeq);
  const digests = [...intentDigests(c), ...builds.flatMap((b) => b.inputs ?? [])];
  return {
    kind: 'case',
    tenant: c.tenant,
    caseId: c.caseId,
    trigger,
    case: caseView(c),
    snapshots: snapshotViews(digests, records.snapshots, gaps),
    builds: builds.map((b) => buildView(b, records.stages, records.evidence)),
    releases: [...records.releases]
      .sort(bySeq)
      .map((r) => ({ releaseId: r.releaseId, env: r.env, channel: r.channel, verification: verificationView(r), activation: activationView(r), consumers: consumerViews(records.consumers, r) })),
    gaps,
  };
}

// ---- the same selection over the in-memory store -----------------------------------------

function snapshotsFor(rows: MemoryRows, tenant: string, digests: readonly string[]): SnapshotRow[] {
  return [...new Set(digests)].map((d) => rows.snapshots.get(rowKey('snapshots', { tenant, digest: d }))).filter((s): s is SnapshotRow => !!s);
}

/** Loads ReleaseRecords from the in-memory store; RELEASE_NOT_FOUND if the release is unknown. */
export function selectReleaseRecords(rows: MemoryRows, tenant: string, releaseId: string): ReleaseRecords {
  const release = rows.releases.get(rowKey('releases', { tenant, releaseId }));
  if (!release) throw new KoaRefusal('RELEASE_NOT_FOUND', `no release ${JSON.stringify(releaseId)} is recorded for tenant ${JSON.stringify(tenant)}`, { tenant, releaseId });
  const c = release.caseId ? rows.cases.get(rowKey('cases', { tenant, caseId: release.caseId })) : undefined;
  const builds = [...rows.builds.values()].filter((b) => b.tenant === tenant && release.caseId !== null && b.caseId === release.caseId);
  const ids = new Set(builds.map((b) => b.buildId));
  return {
    release,
    ...(c && { case: c }),
    builds,
    stages: [...rows.build_stages.values()].filter((s) => s.tenant === tenant && ids.has(s.buildId)),
    evidence: [...rows.evidence.values()].filter((e) => e.tenant === tenant && ids.has(e.buildId)),
    snapshots: snapshotsFor(rows, tenant, [...intentDigests(c), ...builds.flatMap((b) => b.inputs ?? [])]),
    consumers: [...rows.consumers.values()].filter((x) => consumerMatchesRelease(x, release)),
  };
}

/** Loads CaseRecords from the in-memory store; CASE_NOT_FOUND if the case is unknown. */
export function selectCaseRecords(rows: MemoryRows, tenant: string, caseId: string): CaseRecords {
  const c = rows.cases.get(rowKey('cases', { tenant, caseId }));
  if (!c) throw new KoaRefusal('CASE_NOT_FOUND', `no case ${JSON.stringify(caseId)} is recorded for tenant ${JSON.stringify(tenant)}`, { tenant, caseId });
  const builds = [...rows.builds.values()].filter((b) => b.tenant === tenant && b.caseId === caseId);
  const ids = new Set(builds.map((b) => b.buildId));
  const releases = [...rows.releases.values()].filter((r) => r.tenant === tenant && r.caseId === caseId);
  return {
    case: c,
    builds,
    stages: [...rows.build_stages.values()].filter((s) => s.tenant === tenant && ids.has(s.buildId)),
    evidence: [...rows.evidence.values()].filter((e) => e.tenant === tenant && ids.has(e.buildId)),
    snapshots: snapshotsFor(rows, tenant, [...intentDigests(c), ...builds.flatMap((b) => b.inputs ?? [])]),
    releases,
    consumers: [...rows.consumers.values()].filter((x) => releases.some((r) => consumerMatchesRelease(x, r))),
  };
}

/** Digests a story's snapshot section should cover (exported for the SQL loader). */
export const storyDigests = (c: CaseRow | undefined, builds: readonly BuildRow[]): string[] => [...new Set([...intentDigests(c), ...builds.flatMap((b) => b.inputs ?? [])])];
