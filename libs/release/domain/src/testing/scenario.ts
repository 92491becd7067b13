/**
 * Test scenario builder for release tests (unit and integration): a consistent Case + build +
 * release task for one pack, built with the real contracts (`createEvent`), with overrides to
 * break exactly one fact at a time.
 */
import {
  CaseOpened,
  PackCompiled,
  TaskRequested,
  ValidationRecorded,
  BuildStarted,
  canonicalDigest,
  canonicalJson,
  createEvent,
  sha256Digest,
  type AnyKoaEvent,
  type DataOf,
  type Digest,
} from '@koa/contracts';
import { MANIFEST_PATH, PACK_PARTS, encodePack, readUstar, writeUstar, type PackManifest } from '@koa/pack-format';
import type { ReleaseFacts, ReleaseRequest } from '../facts';

/** A small, valid koa-pack/2 archive (two entities) whose content depends on `salt`. */
export function validPackBytes(salt: string, tenant = 'acme'): Uint8Array {
  return encodePack({
    manifest: { tenant, pipelineVersion: 'p1', snapshotSetRoot: sha256Digest(`snapshot for ${salt}`), inputs: [{ digest: sha256Digest(`snapshot for ${salt}`), mediaType: 'text/plain' }] },
    entities: [
      { id: 'pump-p100', type: 'equipment', title: `Pump P100 (${salt})`, text: 'Centrifugal pump, check the seal monthly.', attributes: { site: 'north' }, sources: [sha256Digest(`src ${salt}`)] },
      { id: 'proc-seal', type: 'procedure', title: 'Replace the pump seal', text: 'Isolate, drain, replace the seal.', attributes: {}, sources: [sha256Digest(`src ${salt}`)] },
    ],
    evidence: { passed: true, salt },
  }).bytes;
}

/**
 * `validPackBytes` with ONE malformed entity line (`proc-seal`'s type is not a token) in an
 * otherwise consistent archive: the line keeps its canonical shape, id and order, and the manifest
 * lists the part's CORRECT digest and size. Only the full per-line check (docs/pack-format.md §7
 * step 8b) refuses it — the runtime's deferred mode accepts it at activation.
 */
export function packWithMalformedEntityLine(salt: string, tenant = 'acme'): Uint8Array {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const entries = readUstar(validPackBytes(salt, tenant), { maxEntries: 4 });
  const manifest = JSON.parse(dec.decode(entries[0].data)) as PackManifest;
  const parts = entries.slice(1).map((e) => {
    if (e.path !== PACK_PARTS.entities.path) return e;
    const text = dec.decode(e.data).replace('"type":"procedure"', '"type":"not a token"');
    return { path: e.path, data: enc.encode(text) };
  });
  const patched: PackManifest = {
    ...manifest,
    parts: manifest.parts.map((p) => {
      const data = parts.find((e) => e.path === p.path)?.data ?? new Uint8Array();
      return { ...p, digest: sha256Digest(data), size: data.byteLength };
    }),
  };
  return writeUstar([{ path: MANIFEST_PATH, data: enc.encode(canonicalJson(patched)) }, ...parts]);
}

export interface ScenarioOptions {
  readonly tenant?: string;
  readonly caseId?: string;
  readonly buildId?: string;
  readonly taskId?: string;
  readonly env?: string;
  readonly channel?: string;
  /** default: a valid koa-pack/2 archive ({@link validPackBytes}) */
  readonly packBytes?: Uint8Array;
  readonly builderId?: string;
  readonly validationPassed?: boolean;
  readonly time?: string;
  /** a suffix making event ids unique across scenarios sharing a stream */
  readonly salt?: string;
}

export interface Scenario {
  readonly tenant: string;
  readonly caseId: string;
  readonly buildId: string;
  readonly taskId: string;
  readonly env: string;
  readonly channel: string;
  readonly packBytes: Uint8Array;
  readonly packDigest: Digest;
  readonly evidenceDigest: Digest;
  readonly provenance: DataOf<typeof PackCompiled>['provenance'];
  readonly provenanceDigest: Digest;
  readonly caseEvents: AnyKoaEvent[];
  readonly buildEvents: AnyKoaEvent[];
  /** the TaskRequested release event (also the last of `caseEvents`) */
  readonly releaseTask: AnyKoaEvent;
  readonly request: ReleaseRequest;
}

export function releaseScenario(o: ScenarioOptions = {}): Scenario {
  const tenant = o.tenant ?? 'acme';
  const caseId = o.caseId ?? 'case-1';
  const buildId = o.buildId ?? 'build-1';
  const taskId = o.taskId ?? 'task-rel-1';
  const env = o.env ?? 'dev';
  const channel = o.channel ?? 'stable';
  const time = o.time ?? '2026-11-26T10:00:00.000Z';
  const salt = o.salt ?? taskId;
  const packBytes = o.packBytes ?? validPackBytes(salt, tenant);
  const packDigest = sha256Digest(packBytes);
  const snapshot = sha256Digest(`snapshot for ${salt}`);
  const evidenceDigest = sha256Digest(`evidence for ${salt}`);
  const provenance: DataOf<typeof PackCompiled>['provenance'] = {
    buildType: 'https://koa.dev/pipeline/v1',
    builder: { id: o.builderId ?? 'https://koa.dev/builders/pipeline-worker', version: '1.0.0' },
    pipelineVersion: 'p1',
    inputs: [{ digest: snapshot, mediaType: 'text/plain' }],
    snapshotSetRoot: snapshot,
    parameters: {},
    output: { digest: packDigest, size: packBytes.byteLength },
  };
  const provenanceDigest = canonicalDigest(provenance);
  const base = { time, tenant, correlationId: caseId };
  const onCase = { ...base, source: 'orgo-control', aggregateId: caseId, actor: 'service:orgo-control' };
  const onBuild = { ...base, source: 'pipeline-worker', aggregateId: buildId, actor: 'service:pipeline-worker' };
  const caseEvents: AnyKoaEvent[] = [
    createEvent(CaseOpened, {
      ...onCase,
      id: `${salt}-case-opened`,
      data: {
        caseId,
        trigger: { kind: 'operator', idempotencyKey: `k-${salt}`, requestedBy: 'user:alice', reason: 'test', receivedAt: time, origin: { via: 'http' } },
        intent: { kind: 'build-and-release', snapshotSetRoot: snapshot, digests: [snapshot], env, channel },
      },
    }),
    createEvent(TaskRequested, { ...onCase, id: `${salt}-task-build`, data: { caseId, taskId: `${taskId}-b`, params: { kind: 'build', snapshotSetRoot: snapshot, digests: [snapshot] } } }),
  ];
  const passed = o.validationPassed ?? true;
  const buildEvents: AnyKoaEvent[] = [
    createEvent(BuildStarted, { ...onBuild, id: `${salt}-build-started`, data: { buildId, caseId, taskId: `${taskId}-b`, snapshotSetRoot: snapshot, inputs: [snapshot], pipelineVersion: 'p1' } }),
    createEvent(ValidationRecorded, {
      ...onBuild,
      id: `${salt}-validation`,
      data: { buildId, caseId, passed, evidenceDigest, results: [{ rule: 'r1', passed, ...(passed ? {} : { code: 'VALIDATION_FAILED' }) }], truncated: 0 },
    }),
    createEvent(PackCompiled, {
      ...onBuild,
      id: `${salt}-pack-compiled`,
      data: {
        buildId,
        caseId,
        taskId: `${taskId}-b`,
        pack: { digest: packDigest, size: packBytes.byteLength, mediaType: 'application/vnd.koa.pack.v1+tar' },
        manifestDigest: sha256Digest(`manifest for ${salt}`),
        evidenceDigest,
        provenance,
        provenanceDigest,
      },
    }),
  ];
  const releaseTask = createEvent(TaskRequested, {
    ...onCase,
    id: `${salt}-task-release`,
    data: { caseId, taskId, params: { kind: 'release', buildId, env, channel, pack: { digest: packDigest, size: packBytes.byteLength }, evidenceDigest, provenanceDigest } },
  });
  caseEvents.push(releaseTask);
  const request: ReleaseRequest = { tenant, caseId, taskId, buildId, env, channel, pack: { digest: packDigest, size: packBytes.byteLength }, evidenceDigest, provenanceDigest };
  return { tenant, caseId, buildId, taskId, env, channel, packBytes, packDigest, evidenceDigest, provenance, provenanceDigest, caseEvents, buildEvents, releaseTask, request };
}

/** Facts under which every check passes, for the scenario. */
export const passingFacts = (s: Scenario): ReleaseFacts => ({
  request: s.request,
  caseEvents: s.caseEvents,
  buildEvents: s.buildEvents,
  storedPack: { digest: s.packDigest, size: s.packBytes.byteLength, structure: { ok: true, entities: 2 } },
  trustedBuilders: ['https://koa.dev/builders/pipeline-worker'],
  policy: { environments: ['dev', 'staging', 'prod'] },
  signingKey: { env: s.env, kid: `${s.env}-release-1` },
});
