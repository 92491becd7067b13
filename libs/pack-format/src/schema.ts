import { z } from 'zod';
import { DigestSchema, Token } from '@koa/contracts';

/**
 * The media type of a Runtime Pack archive (a literal of the `PackCompiled` event contract in
 * @koa/contracts). It still reads `v1`: the contract owns it, see docs/pack-format.md §10.
 */
export const PACK_MEDIA_TYPE = 'application/vnd.koa.pack.v1+tar' as const;
/** The value of `manifest.format`. */
export const PACK_FORMAT = 'koa-pack/2' as const;

/**
 * Part paths of a koa-pack/2 archive, in archive order after `manifest.json`. There is no index
 * part: readers derive the search index from the entities (docs/pack-format.md §5).
 */
export const PACK_PARTS = {
  entities: { path: 'entities.ndjson', mediaType: 'application/x-ndjson' },
  evidence: { path: 'evidence.json', mediaType: 'application/json' },
} as const;
export const MANIFEST_PATH = 'manifest.json' as const;

/** Attribute keys: an ASCII letter then letters, digits, `_`, `.`, `-`; at most 64 characters. */
export const ATTRIBUTE_KEY_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

export const PackAttributeValue = z.union([
  z.string().max(4096),
  z.number().refine(Number.isFinite, 'must be a finite number'),
  z.boolean(),
  z.null(),
]);

/**
 * One entity of a pack (one line of `entities.ndjson`). `sources` are the digests of the snapshots
 * the entity was extracted from, sorted, unique.
 */
export const PackEntitySchema = z.strictObject({
  id: Token,
  type: Token,
  title: z.string().max(1024),
  text: z.string().max(1_048_576),
  attributes: z
    .record(z.string().regex(ATTRIBUTE_KEY_PATTERN, `must match ${ATTRIBUTE_KEY_PATTERN.source}`), PackAttributeValue)
    .refine((r) => Object.keys(r).length <= 128, 'at most 128 attributes'),
  sources: z.array(DigestSchema).min(1).max(10_000),
});

export interface PackEntity {
  id: string;
  type: string;
  title: string;
  text: string;
  attributes: Record<string, string | number | boolean | null>;
  /** digests (`sha256:<hex>`) of the snapshots this entity came from */
  sources: string[];
}

/** An entity as {@link encodePack} accepts it: a {@link PackEntity}, possibly read-only. */
export interface PackEntityInput {
  readonly id: string;
  readonly type: string;
  readonly title: string;
  readonly text: string;
  readonly attributes: Readonly<Record<string, string | number | boolean | null>>;
  readonly sources: readonly string[];
}

export const PackInputSchema = z.strictObject({ digest: DigestSchema, mediaType: z.string().min(1).max(128) });
export const PackPartSchema = z.strictObject({
  path: z.string().min(1).max(100),
  digest: DigestSchema,
  size: z.number().int().nonnegative(),
  mediaType: z.string().min(1).max(128),
});

/** `manifest.json`: the first entry of the archive, canonical JSON (RFC 8785). */
export const PackManifestSchema = z.strictObject({
  format: z.literal(PACK_FORMAT),
  tenant: Token,
  pipelineVersion: z.string().min(1).max(64),
  snapshotSetRoot: DigestSchema,
  inputs: z.array(PackInputSchema).min(1).max(10_000),
  parts: z.array(PackPartSchema).length(2),
  counts: z.strictObject({ entities: z.number().int().nonnegative() }),
});

export interface PackInput {
  digest: string;
  mediaType: string;
}
export interface PackPart {
  path: string;
  digest: string;
  size: number;
  mediaType: string;
}
export interface PackManifest {
  format: typeof PACK_FORMAT;
  tenant: string;
  pipelineVersion: string;
  snapshotSetRoot: string;
  /** sorted by digest, unique */
  inputs: PackInput[];
  /** sorted by path: entities.ndjson, evidence.json */
  parts: PackPart[];
  counts: { entities: number };
}

/** What the caller supplies to {@link encodePack}; `format`, `parts` and `counts` are computed. */
export type PackManifestInput = Omit<PackManifest, 'parts' | 'counts' | 'format'> & { format?: typeof PACK_FORMAT };
