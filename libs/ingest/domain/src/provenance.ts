import { KoaRefusal, Provenance, type DataOf, type SnapshotCaptured } from '@koa/contracts';
import type { z } from 'zod';

export type SnapshotProvenance = z.output<typeof Provenance>;

/** The capture adapters of ingest-gateway and their versions (recorded in every provenance). */
export const ADAPTERS = Object.freeze({
  httpUpload: Object.freeze({ name: 'http-upload', version: '1.0.0' }),
  natsPublish: Object.freeze({ name: 'nats-publish', version: '1.0.0' }),
});
export type Adapter = (typeof ADAPTERS)[keyof typeof ADAPTERS];

/** Source validators we record, by the lower-case header name the source used. */
export const VALIDATOR_NAMES = ['etag', 'last-modified'] as const;

export const DEFAULT_SOURCE_REF = 'upload';

/** Provenance before the capture time is known (validated as it arrives, stamped after the bytes are read). */
export type ProvenanceInput = Omit<SnapshotProvenance, 'capturedAt'>;

/**
 * Validates where bytes come from: adapter and version, the opaque source reference (default
 * `upload`; at most 1024 characters, else INGEST_MALFORMED naming `field`) and the validators the
 * source gave (ETag, Last-Modified; empty values dropped, each at most 256 characters).
 */
export function provenanceInput(args: {
  adapter: Adapter;
  sourceRef?: string;
  validators?: Partial<Record<(typeof VALIDATOR_NAMES)[number], string | undefined>>;
  field?: string;
}): ProvenanceInput {
  const sourceRef = args.sourceRef === undefined || args.sourceRef.trim() === '' ? DEFAULT_SOURCE_REF : args.sourceRef.trim();
  const field = args.field ?? 'sourceRef';
  if (sourceRef.length > 1024) throw new KoaRefusal('INGEST_MALFORMED', `${field} is longer than 1024 characters`, { field });
  const validators: Record<string, string> = {};
  for (const name of VALIDATOR_NAMES) {
    const v = args.validators?.[name]?.trim();
    if (v === undefined || v === '') continue;
    if (v.length > 256) throw new KoaRefusal('INGEST_MALFORMED', `validator ${name} is longer than 256 characters`, { field: name });
    validators[name] = v;
  }
  return { adapter: { name: args.adapter.name, version: args.adapter.version }, sourceRef, ...(Object.keys(validators).length > 0 && { validators }) };
}

/**
 * The provenance of a capture: {@link provenanceInput} plus the capture time (from the injected
 * clock), validated against the contract schema.
 */
export function buildProvenance(args: Parameters<typeof provenanceInput>[0] & { capturedAt: string }): SnapshotProvenance {
  const { capturedAt, ...input } = args;
  return stampProvenance(provenanceInput(input), capturedAt);
}

/** Adds the capture time to a validated provenance input. */
export function stampProvenance(input: ProvenanceInput, capturedAt: string): SnapshotProvenance {
  return Provenance.parse({ ...input, capturedAt });
}

/** The data of a SnapshotCaptured event. */
export type SnapshotCapturedData = DataOf<typeof SnapshotCaptured>;
