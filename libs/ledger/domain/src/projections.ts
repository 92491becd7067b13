import {
  BuildFailed,
  BuildStarted,
  CaseClosed,
  CaseOpened,
  ChannelAdvanced,
  ConsumerActivated,
  ConsumerRefused,
  dedupKey,
  PackCompiled,
  ReleaseActivated,
  ReleaseRefused,
  ReleaseVerified,
  sha256Digest,
  SnapshotCaptured,
  StageCompleted,
  StageFailed,
  ValidationRecorded,
  type AnyKoaEvent,
  type KoaEventType,
} from '@koa/contracts';

/**
 * Projections: pure `{ name, version, canHandle, evolve }` (Emmett style). `evolve` never reads
 * state: it returns row UPSERTS (merge semantics, see {@link RowUpsert}) which the data-access
 * layer writes in the same transaction as the ledger entry, and which {@link applyUpserts}
 * applies to an in-memory store with the same semantics (the reference used by unit tests).
 *
 * Because events are applied in stream order and every upsert is keyed by natural ids, the live
 * path and a rebuild-by-replay produce the same rows.
 */

/** The read-model tables (schema `ledger`), each with a `tenant` column in its key. */
export type ProjectionTable = 'cases' | 'snapshots' | 'builds' | 'build_stages' | 'evidence' | 'releases' | 'consumers';

export const PROJECTION_TABLES: readonly ProjectionTable[] = ['cases', 'snapshots', 'builds', 'build_stages', 'evidence', 'releases', 'consumers'];

/** Primary-key columns of each table (camelCase; the SQL columns are their snake_case). */
export const TABLE_KEYS: { readonly [T in ProjectionTable]: readonly string[] } = {
  cases: ['tenant', 'caseId'],
  snapshots: ['tenant', 'digest'],
  builds: ['tenant', 'buildId'],
  build_stages: ['tenant', 'buildId', 'stage'],
  evidence: ['tenant', 'buildId'],
  releases: ['tenant', 'releaseId'],
  consumers: ['tenant', 'consumerId', 'eventKey'],
};

export type Cell = string | number | boolean | null | readonly unknown[] | { readonly [k: string]: unknown };

/**
 * Insert the row if its key is new; otherwise overwrite ONLY the `set` columns (other columns
 * keep their values). `setOnInsert` columns are written only when the row is created.
 */
export interface RowUpsert {
  readonly table: ProjectionTable;
  readonly key: Readonly<Record<string, string | number>>;
  readonly set: Readonly<Record<string, Cell>>;
  readonly setOnInsert?: Readonly<Record<string, Cell>>;
}

/** Where the event sits in the stream. */
export interface EventMeta {
  readonly seq: number;
}

export interface Projection {
  /** stable name, a row in `ledger.projection_state` */
  readonly name: string;
  /** bump when evolve changes meaning: a stored state with another version needs a rebuild */
  readonly version: number;
  readonly tables: readonly ProjectionTable[];
  canHandle(type: string): boolean;
  evolve(event: AnyKoaEvent, meta: EventMeta): readonly RowUpsert[];
}

// ---- row shapes (what the tables hold; the what-happened assembler reads these) -----------

export interface CaseRow {
  tenant: string;
  caseId: string;
  status: 'open' | 'closed';
  trigger: unknown;
  intent: unknown;
  openedAt: string | null;
  openedBy: string | null;
  openedEventId: string | null;
  outcome: 'succeeded' | 'failed' | null;
  code: string | null;
  message: string | null;
  closedAt: string | null;
  firstSeq: number;
}

export interface SnapshotRow {
  tenant: string;
  digest: string;
  size: number;
  mediaType: string;
  source: string;
  objectName: string;
  provenance: unknown;
  capturedBy: string;
  capturedAt: string;
  eventId: string;
  firstSeq: number;
}

export interface BuildRow {
  tenant: string;
  buildId: string;
  caseId: string;
  taskId: string | null;
  status: 'running' | 'succeeded' | 'failed';
  snapshotSetRoot: string | null;
  inputs: string[] | null;
  pipelineVersion: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  packDigest: string | null;
  packSize: number | null;
  packMediaType: string | null;
  manifestDigest: string | null;
  evidenceDigest: string | null;
  provenance: unknown;
  provenanceDigest: string | null;
  failureStage: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  firstSeq: number;
}

export interface StageRow {
  tenant: string;
  buildId: string;
  stage: string;
  caseId: string;
  outcome: 'completed' | 'failed';
  stats: Record<string, number> | null;
  code: string | null;
  message: string | null;
  at: string;
  seq: number;
}

export interface EvidenceRow {
  tenant: string;
  buildId: string;
  caseId: string;
  passed: boolean;
  evidenceDigest: string;
  rulesEvaluated: number;
  rulesPassed: number;
  rulesFailed: number;
  truncated: number;
  failures: Array<{ rule: string; code?: string; message?: string; subject?: string }>;
  recordedAt: string;
}

export interface ReleaseRow {
  tenant: string;
  releaseId: string;
  caseId: string | null;
  taskId: string | null;
  env: string;
  channel: string;
  status: 'verified' | 'refused' | 'activated' | 'pending';
  packDigest: string | null;
  checks: Array<{ check: string; passed: boolean }> | null;
  verifiedAt: string | null;
  refusedCode: string | null;
  refusedMessage: string | null;
  refusedAt: string | null;
  version: number | null;
  packSize: number | null;
  kid: string | null;
  expiresAt: string | null;
  noticeDigest: string | null;
  previous: unknown;
  activatedAt: string | null;
  channelAdvancedAt: string | null;
  firstSeq: number;
}

export interface ConsumerRow {
  tenant: string;
  consumerId: string;
  eventKey: string;
  releaseId: string | null;
  env: string;
  channel: string;
  version: number | null;
  packDigest: string | null;
  outcome: 'activated' | 'refused';
  code: string | null;
  message: string | null;
  at: string;
  seq: number;
}

export interface RowsByTable {
  cases: CaseRow;
  snapshots: SnapshotRow;
  builds: BuildRow;
  build_stages: StageRow;
  evidence: EvidenceRow;
  releases: ReleaseRow;
  consumers: ConsumerRow;
}

// ---- the projections ---------------------------------------------------------------------

const handles = (...types: KoaEventType[]) => {
  const set = new Set<string>(types);
  return (type: string) => set.has(type);
};

/** Cases: who/why/when/from where (the trigger), what it asked for, and how it ended. */
export const casesProjection: Projection = {
  name: 'cases',
  version: 1,
  tables: ['cases'],
  canHandle: handles(CaseOpened.type, CaseClosed.type),
  evolve(event, { seq }) {
    const key = (caseId: string) => ({ tenant: event.tenantid, caseId });
    switch (event.type) {
      case CaseOpened.type:
        return [
          {
            table: 'cases',
            key: key(event.data.caseId),
            set: { trigger: event.data.trigger, intent: event.data.intent, openedAt: event.time, openedBy: event.actor, openedEventId: event.id },
            setOnInsert: { status: 'open', firstSeq: seq },
          },
        ];
      case CaseClosed.type:
        return [
          {
            table: 'cases',
            key: key(event.data.caseId),
            set: { status: 'closed', outcome: event.data.outcome, code: event.data.code ?? null, message: event.data.message ?? null, closedAt: event.time },
            setOnInsert: { firstSeq: seq },
          },
        ];
      default:
        return [];
    }
  },
};

/** Snapshots with their provenance; the first capture of a digest is kept. */
export const snapshotsProjection: Projection = {
  name: 'snapshots',
  version: 1,
  tables: ['snapshots'],
  canHandle: handles(SnapshotCaptured.type),
  evolve(event, { seq }) {
    if (event.type !== SnapshotCaptured.type) return [];
    const d = event.data;
    return [
      {
        table: 'snapshots',
        key: { tenant: event.tenantid, digest: d.digest },
        set: {},
        setOnInsert: {
          size: d.size,
          mediaType: d.mediaType,
          source: d.source,
          objectName: d.objectName,
          provenance: d.provenance,
          capturedBy: event.actor,
          capturedAt: event.time,
          eventId: event.id,
          firstSeq: seq,
        },
      },
    ];
  },
};

/** The most failures kept per evidence row (the full report is behind `evidenceDigest`). */
export const MAX_FAILURES_KEPT = 100;

/** Builds, their stages and their validation evidence. */
export const buildsProjection: Projection = {
  name: 'builds',
  version: 1,
  tables: ['builds', 'build_stages', 'evidence'],
  canHandle: handles(BuildStarted.type, StageCompleted.type, StageFailed.type, ValidationRecorded.type, PackCompiled.type, BuildFailed.type),
  evolve(event, { seq }) {
    const tenant = event.tenantid;
    switch (event.type) {
      case BuildStarted.type: {
        const d = event.data;
        return [
          {
            table: 'builds',
            key: { tenant, buildId: d.buildId },
            set: { caseId: d.caseId, taskId: d.taskId, snapshotSetRoot: d.snapshotSetRoot, inputs: d.inputs, pipelineVersion: d.pipelineVersion, startedAt: event.time },
            setOnInsert: { status: 'running', firstSeq: seq },
          },
        ];
      }
      case StageCompleted.type:
      case StageFailed.type: {
        const d = event.data;
        const failed = event.type === StageFailed.type;
        return [
          {
            table: 'build_stages',
            key: { tenant, buildId: d.buildId, stage: d.stage },
            set: {
              caseId: d.caseId,
              outcome: failed ? 'failed' : 'completed',
              stats: failed ? null : event.data.stats,
              code: failed ? event.data.code : null,
              message: failed ? event.data.message : null,
              at: event.time,
              seq,
            },
          },
        ];
      }
      case ValidationRecorded.type: {
        const d = event.data;
        const failures = d.results
          .filter((r) => !r.passed)
          .slice(0, MAX_FAILURES_KEPT)
          .map((r) => ({ rule: r.rule, ...(r.code !== undefined && { code: r.code }), ...(r.message !== undefined && { message: r.message }), ...(r.subject !== undefined && { subject: r.subject }) }));
        const passedCount = d.results.filter((r) => r.passed).length;
        return [
          {
            table: 'evidence',
            key: { tenant, buildId: d.buildId },
            set: {
              caseId: d.caseId,
              passed: d.passed,
              evidenceDigest: d.evidenceDigest,
              rulesEvaluated: d.results.length + d.truncated,
              rulesPassed: passedCount,
              rulesFailed: d.results.length - passedCount,
              truncated: d.truncated,
              failures,
              recordedAt: event.time,
            },
          },
        ];
      }
      case PackCompiled.type: {
        const d = event.data;
        return [
          {
            table: 'builds',
            key: { tenant, buildId: d.buildId },
            set: {
              caseId: d.caseId,
              taskId: d.taskId,
              status: 'succeeded',
              finishedAt: event.time,
              packDigest: d.pack.digest,
              packSize: d.pack.size,
              packMediaType: d.pack.mediaType,
              manifestDigest: d.manifestDigest,
              evidenceDigest: d.evidenceDigest,
              provenance: d.provenance,
              provenanceDigest: d.provenanceDigest,
            },
            setOnInsert: { firstSeq: seq },
          },
        ];
      }
      case BuildFailed.type: {
        const d = event.data;
        return [
          {
            table: 'builds',
            key: { tenant, buildId: d.buildId },
            set: { caseId: d.caseId, taskId: d.taskId, status: 'failed', finishedAt: event.time, failureStage: d.stage, failureCode: d.code, failureMessage: d.message },
            setOnInsert: { firstSeq: seq },
          },
        ];
      }
      default:
        return [];
    }
  },
};

/** Releases: verification (checks or refusal code), activation, channel pointer. */
export const releasesProjection: Projection = {
  name: 'releases',
  version: 1,
  tables: ['releases'],
  canHandle: handles(ReleaseVerified.type, ReleaseRefused.type, ReleaseActivated.type, ChannelAdvanced.type),
  evolve(event, { seq }) {
    const tenant = event.tenantid;
    switch (event.type) {
      case ReleaseVerified.type: {
        const d = event.data;
        return [
          {
            table: 'releases',
            key: { tenant, releaseId: d.releaseId },
            set: { caseId: d.caseId, taskId: d.taskId, env: d.env, channel: d.channel, packDigest: d.packDigest, status: 'verified', checks: d.checks, verifiedAt: event.time },
            setOnInsert: { firstSeq: seq },
          },
        ];
      }
      case ReleaseRefused.type: {
        const d = event.data;
        return [
          {
            table: 'releases',
            key: { tenant, releaseId: d.releaseId },
            set: {
              caseId: d.caseId,
              taskId: d.taskId,
              env: d.env,
              channel: d.channel,
              ...(d.packDigest !== undefined && { packDigest: d.packDigest }),
              status: 'refused',
              refusedCode: d.code,
              refusedMessage: d.message,
              refusedAt: event.time,
            },
            setOnInsert: { firstSeq: seq },
          },
        ];
      }
      case ReleaseActivated.type: {
        const d = event.data;
        return [
          {
            table: 'releases',
            key: { tenant, releaseId: d.releaseId },
            set: {
              caseId: d.caseId,
              taskId: d.taskId,
              env: d.env,
              channel: d.channel,
              packDigest: d.packDigest,
              status: 'activated',
              version: d.version,
              packSize: d.packSize,
              kid: d.kid,
              expiresAt: d.expiresAt,
              noticeDigest: sha256Digest(d.notice),
              previous: d.previous ?? null,
              activatedAt: event.time,
            },
            setOnInsert: { firstSeq: seq },
          },
        ];
      }
      case ChannelAdvanced.type: {
        const d = event.data;
        return [
          {
            table: 'releases',
            key: { tenant, releaseId: d.releaseId },
            set: { channelAdvancedAt: event.time },
            setOnInsert: { env: d.env, channel: d.channel, packDigest: d.packDigest, version: d.version, caseId: null, status: 'pending', firstSeq: seq },
          },
        ];
      }
      default:
        return [];
    }
  },
};

/** The consumer fleet: every activation receipt and refusal, one row per event. */
export const consumersProjection: Projection = {
  name: 'consumers',
  version: 1,
  tables: ['consumers'],
  canHandle: handles(ConsumerActivated.type, ConsumerRefused.type),
  evolve(event, { seq }) {
    const tenant = event.tenantid;
    const eventKey = dedupKey(event);
    switch (event.type) {
      case ConsumerActivated.type: {
        const d = event.data;
        return [
          {
            table: 'consumers',
            key: { tenant, consumerId: d.consumerId, eventKey },
            set: { releaseId: d.releaseId, env: d.env, channel: d.channel, version: d.version, packDigest: d.packDigest, outcome: 'activated', code: null, message: null, at: d.activatedAt, seq },
          },
        ];
      }
      case ConsumerRefused.type: {
        const d = event.data;
        return [
          {
            table: 'consumers',
            key: { tenant, consumerId: d.consumerId, eventKey },
            set: {
              releaseId: d.releaseId ?? null,
              env: d.env,
              channel: d.channel,
              version: d.version ?? null,
              packDigest: d.packDigest ?? null,
              outcome: 'refused',
              code: d.code,
              message: d.message,
              at: event.time,
              seq,
            },
          },
        ];
      }
      default:
        return [];
    }
  },
};

/** Every projection the ledger maintains, in the order they are applied. */
export const PROJECTIONS: readonly Projection[] = [casesProjection, snapshotsProjection, buildsProjection, releasesProjection, consumersProjection];

/** All upserts every projection makes for one event (in PROJECTIONS order). */
export function evolveAll(event: AnyKoaEvent, meta: EventMeta, projections: readonly Projection[] = PROJECTIONS): RowUpsert[] {
  return projections.filter((p) => p.canHandle(event.type)).flatMap((p) => p.evolve(event, meta));
}

// ---- the in-memory reference store --------------------------------------------------------

/** Rows by table, keyed by the canonical key string. */
export type MemoryRows = { readonly [T in ProjectionTable]: ReadonlyMap<string, RowsByTable[T]> };

export const emptyRows = (): MemoryRows => ({
  cases: new Map(),
  snapshots: new Map(),
  builds: new Map(),
  build_stages: new Map(),
  evidence: new Map(),
  releases: new Map(),
  consumers: new Map(),
});

/** Nullable columns per table: a row created by a partial upsert has them as null (like SQL). */
export const TABLE_COLUMNS: { readonly [T in ProjectionTable]: readonly (keyof RowsByTable[T] & string)[] } = {
  cases: ['tenant', 'caseId', 'status', 'trigger', 'intent', 'openedAt', 'openedBy', 'openedEventId', 'outcome', 'code', 'message', 'closedAt', 'firstSeq'],
  snapshots: ['tenant', 'digest', 'size', 'mediaType', 'source', 'objectName', 'provenance', 'capturedBy', 'capturedAt', 'eventId', 'firstSeq'],
  builds: [
    'tenant', 'buildId', 'caseId', 'taskId', 'status', 'snapshotSetRoot', 'inputs', 'pipelineVersion', 'startedAt', 'finishedAt', 'packDigest', 'packSize',
    'packMediaType', 'manifestDigest', 'evidenceDigest', 'provenance', 'provenanceDigest', 'failureStage', 'failureCode', 'failureMessage', 'firstSeq',
  ],
  build_stages: ['tenant', 'buildId', 'stage', 'caseId', 'outcome', 'stats', 'code', 'message', 'at', 'seq'],
  evidence: ['tenant', 'buildId', 'caseId', 'passed', 'evidenceDigest', 'rulesEvaluated', 'rulesPassed', 'rulesFailed', 'truncated', 'failures', 'recordedAt'],
  releases: [
    'tenant', 'releaseId', 'caseId', 'taskId', 'env', 'channel', 'status', 'packDigest', 'checks', 'verifiedAt', 'refusedCode', 'refusedMessage', 'refusedAt',
    'version', 'packSize', 'kid', 'expiresAt', 'noticeDigest', 'previous', 'activatedAt', 'channelAdvancedAt', 'firstSeq',
  ],
  consumers: ['tenant', 'consumerId', 'eventKey', 'releaseId', 'env', 'channel', 'version', 'packDigest', 'outcome', 'code', 'message', 'at', 'seq'],
};

export const rowKey = (table: ProjectionTable, key: Readonly<Record<string, unknown>>): string =>
  JSON.stringify(TABLE_KEYS[table].map((k) => key[k]));

/** Applies upserts with the documented merge semantics; returns a new store (input untouched). */
export function applyUpserts(rows: MemoryRows, upserts: readonly RowUpsert[]): MemoryRows {
  const next = { ...rows } as { [T in ProjectionTable]: Map<string, RowsByTable[T]> };
  const copied = new Set<ProjectionTable>();
  for (const u of upserts) {
    if (!copied.has(u.table)) {
      (next as Record<ProjectionTable, Map<string, unknown>>)[u.table] = new Map(rows[u.table] as ReadonlyMap<string, unknown>);
      copied.add(u.table);
    }
    const table = (next as unknown as Record<ProjectionTable, Map<string, Record<string, unknown>>>)[u.table];
    const k = rowKey(u.table, u.key);
    const existing = table.get(k);
    if (existing) {
      table.set(k, { ...existing, ...u.set });
    } else {
      const blank = Object.fromEntries(TABLE_COLUMNS[u.table].map((c) => [c, null]));
      table.set(k, { ...blank, ...u.setOnInsert, ...u.set, ...u.key });
    }
  }
  return next;
}
