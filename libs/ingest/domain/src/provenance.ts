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

/**
 * Builds the provenance of a capture: adapter and version, the opaque source reference
 * (default `upload`; at most 1024 characters, else INGEST_MALFORMED naming `field`), the capture
 * time (from the injected clock) and the validators the source gave (ETag, Last-Modified; empty
 * values dropped, each at most 256 characters).
 */
export function buildProvenance(args: {
  adapter: Adapter;
  sourceRef?: string;
  capturedAt: string;
  validators?: Partial<Record<(typeof VALIDATOR_NAMES)[number], string | undefined>>;
  field?: string;
}): SnapshotProvenance {
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
  return Provenance.parse({
    adapter: { name: args.adapter.name, version: args.adapter.version },
    sourceRef,
    capturedAt: args.capturedAt,
    ...(Object.keys(validators).length > 0 && { validators }),
  });
}

/** The data of a SnapshotCaptured event. */
export type SnapshotCapturedData = DataOf<typeof SnapshotCaptured>;
