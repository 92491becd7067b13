import { SUBJECT_ROOTS } from './subjects';

/**
 * Streams, object stores and consumers as data. The messaging library applies these
 * idempotently at boot; nothing else creates JetStream resources.
 */
export interface StreamSpec {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly description: string;
  readonly storage: 'file' | 'memory';
  readonly denyDelete: boolean;
  readonly denyPurge: boolean;
  /** de-duplication window for Nats-Msg-Id, in milliseconds */
  readonly duplicateWindowMs: number;
  /** keep at most this many messages per subject (0 = unlimited) */
  readonly maxMsgsPerSubject: number;
  /** 0 = unlimited */
  readonly maxAgeMs: number;
  readonly maxMsgSize: number;
}

const MiB = 1024 * 1024;

export const STREAMS = {
  events: {
    name: 'KOA_EVENTS',
    subjects: [`${SUBJECT_ROOTS.events}.>`],
    description: 'The immutable event log: the source of truth. The server refuses delete and purge.',
    storage: 'file',
    denyDelete: true,
    denyPurge: true,
    duplicateWindowMs: 2 * 60_000,
    maxMsgsPerSubject: 0,
    maxAgeMs: 0,
    maxMsgSize: 1 * MiB,
  },
  ingest: {
    name: 'KOA_INGEST',
    subjects: [`${SUBJECT_ROOTS.ingest}.>`],
    description: 'Raw inbound content from external publishers: untrusted, captured by ingest-gateway.',
    storage: 'file',
    denyDelete: false,
    denyPurge: false,
    duplicateWindowMs: 2 * 60_000,
    maxMsgsPerSubject: 0,
    maxAgeMs: 7 * 24 * 3600_000,
    maxMsgSize: 1 * MiB,
  },
  releases: {
    name: 'KOA_RELEASES',
    subjects: [`${SUBJECT_ROOTS.releases}.>`],
    description: 'Signed release notices; the last few per channel so a consumer coming online asks for the last one.',
    storage: 'file',
    denyDelete: true,
    denyPurge: false,
    duplicateWindowMs: 2 * 60_000,
    maxMsgsPerSubject: 5,
    maxAgeMs: 0,
    maxMsgSize: 64 * 1024,
  },
  audit: {
    name: 'KOA_AUDIT',
    subjects: [`${SUBJECT_ROOTS.audit}.>`],
    description: 'OCSF audit records for SIEMs.',
    storage: 'file',
    denyDelete: true,
    denyPurge: false,
    duplicateWindowMs: 2 * 60_000,
    maxMsgsPerSubject: 0,
    maxAgeMs: 0,
    maxMsgSize: 1 * MiB,
  },
  deadLetters: {
    name: 'KOA_DLQ',
    subjects: [`${SUBJECT_ROOTS.deadLetter}.>`],
    description: 'Dead-letter records: refusal code, consumer, delivery count and the original bytes.',
    storage: 'file',
    denyDelete: true,
    denyPurge: false,
    duplicateWindowMs: 2 * 60_000,
    maxMsgsPerSubject: 0,
    maxAgeMs: 0,
    maxMsgSize: 8 * MiB,
  },
} as const satisfies Record<string, StreamSpec>;

/** JetStream object stores (content-addressed blobs, named by digest hex). */
export const OBJECT_STORES = {
  snapshots: { bucket: 'koa-snapshots', description: 'Captured content, one object per sha256 digest.' },
  packs: { bucket: 'koa-packs', description: 'Compiled Runtime Packs, one object per sha256 digest.' },
} as const;

/** Durable consumer settings shared by every service consumer unless it overrides them. */
export const CONSUMER_DEFAULTS = {
  ackWaitMs: 10_000,
  maxDeliver: 8,
  /** nak delays by attempt (1-based); the last one repeats */
  backoffMs: [250, 1_000, 3_000, 10_000] as readonly number[],
  maxAckPending: 256,
} as const;

/**
 * Object names in the snapshot and pack stores: `<tenant>/<digest hex>`. Content-addressed
 * within a tenant; one tenant can never probe for or read another tenant's blobs by digest.
 */
export const objectNameFor = (tenant: string, digest: string): string => {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new TypeError(`objectNameFor: not a sha256 digest: ${digest}`);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(tenant)) throw new TypeError(`objectNameFor: invalid tenant: ${tenant}`);
  return `${tenant}/${digest.slice(7)}`;
};
