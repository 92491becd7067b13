import { SnapshotCaptured, SnapshotRejected, SnapshotSetSealed, createEvent, digestHex, objectNameFor, sha256Digest, type EventOf, type KoaRefusal } from '@koa/contracts';
import type { IngestMediaType } from './content';
import type { SnapshotProvenance } from './provenance';
import type { SealedSnapshotSet } from './snapshot-set';

const SOURCE = 'ingest-gateway';

/** Envelope metadata that comes from outside the domain (ids, time, who, why, trace). */
export interface IngestEventMeta {
  readonly id: string;
  readonly time: string;
  readonly tenant: string;
  readonly actor: string;
  readonly reason?: string;
  readonly traceparent?: string;
  readonly correlationId?: string;
}

const envelope = (meta: IngestEventMeta) => ({
  id: meta.id,
  time: meta.time,
  source: SOURCE,
  tenant: meta.tenant,
  actor: meta.actor,
  ...(meta.reason !== undefined && { reason: meta.reason }),
  ...(meta.traceparent !== undefined && { traceparent: meta.traceparent }),
  ...(meta.correlationId !== undefined && { correlationId: meta.correlationId }),
});

/** `SnapshotCaptured` on `snapshot/<digest hex>`, naming the object `<tenant>/<hex>` in `koa-snapshots`. */
export function snapshotCapturedEvent(
  meta: IngestEventMeta,
  capture: { digest: string; size: number; mediaType: IngestMediaType; source: string; provenance: SnapshotProvenance },
): EventOf<typeof SnapshotCaptured> {
  return createEvent(SnapshotCaptured, {
    ...envelope(meta),
    aggregateId: digestHex(capture.digest),
    data: {
      digest: capture.digest,
      size: capture.size,
      mediaType: capture.mediaType,
      source: capture.source,
      objectName: objectNameFor(meta.tenant, capture.digest),
      provenance: capture.provenance,
    },
  });
}

/** `SnapshotSetSealed` on `snapshotset/<root hex>`. */
export function snapshotSetSealedEvent(meta: IngestEventMeta, set: SealedSnapshotSet, label?: string): EventOf<typeof SnapshotSetSealed> {
  return createEvent(SnapshotSetSealed, {
    ...envelope(meta),
    aggregateId: digestHex(set.root),
    data: { root: set.root, digests: [...set.digests], ...(label !== undefined && { label }) },
  });
}

/**
 * The `ingest` aggregate id of one inbound attempt: `in-<stream seq>-<16 hex>` where the hex is from
 * sha256 of the inbound message id (or its bytes when it has none): deterministic, so a redelivery
 * of the same inbound message records its rejection under the same id.
 */
export function inboundAttemptId(streamSeq: number, identity: string | Uint8Array): string {
  return `in-${streamSeq}-${digestHex(sha256Digest(identity)).slice(0, 16)}`;
}

/** `SnapshotRejected` on `ingest/<attempt id>`: the record of a refused inbound message (nothing was stored). */
export function snapshotRejectedEvent(
  meta: IngestEventMeta,
  rejection: { attemptId: string; refusal: KoaRefusal; source: string; sourceRef?: string; size?: number },
): EventOf<typeof SnapshotRejected> {
  return createEvent(SnapshotRejected, {
    ...envelope(meta),
    aggregateId: rejection.attemptId,
    data: {
      code: rejection.refusal.code,
      message: rejection.refusal.message.slice(0, 1024),
      source: rejection.source.slice(0, 128),
      ...(rejection.sourceRef !== undefined && { sourceRef: rejection.sourceRef.slice(0, 1024) }),
      ...(rejection.size !== undefined && { size: rejection.size }),
    },
  });
}
