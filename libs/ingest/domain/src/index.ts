export { ContentMeter, DEFAULT_MAX_INGEST_BYTES, INGEST_MEDIA_TYPES, assertMaxBytes, measureContent, normalizeMediaType, type IngestMediaType } from './content';
export { MAX_SET_SIZE, sealSnapshotSet, type SealedSnapshotSet } from './snapshot-set';
export { ADAPTERS, DEFAULT_SOURCE_REF, VALIDATOR_NAMES, buildProvenance, provenanceInput, stampProvenance, type Adapter, type ProvenanceInput, type SnapshotCapturedData, type SnapshotProvenance } from './provenance';
export { inboundAttemptId, snapshotCapturedEvent, snapshotRejectedEvent, snapshotSetSealedEvent, type IngestEventMeta } from './events';
export { decodeInbound, parseInboundSubject, type InboundCapture, type InboundContent } from './inbound';
