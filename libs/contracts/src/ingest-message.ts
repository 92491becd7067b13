import { z } from 'zod';
import { Actor, IsoTime } from './schema';

/**
 * What an external publisher sends on `koa.ingest.<tenant>.<source>` (stream KOA_INGEST):
 * a CloudEvents 1.0 structured JSON envelope whose data carries the content inline, or a
 * reference to an entry the publisher put in the snapshots object store. Untrusted input:
 * ingest-gateway validates it and captures it, or refuses it with a code.
 */
export const IngestContent = z.union([
  z
    .object({
      /** `utf8` for text, `base64` for binary */
      encoding: z.enum(['utf8', 'base64']),
      content: z.string(),
      mediaType: z.string().min(1).max(128),
      sourceRef: z.string().min(1).max(1024),
    })
    .strict(),
  z
    .object({
      /** name of an entry in the `koa-snapshots` object store that the publisher wrote */
      objectRef: z.string().min(1).max(256),
      mediaType: z.string().min(1).max(128),
      sourceRef: z.string().min(1).max(1024),
    })
    .strict(),
]);

export const IngestMessageSchema = z
  .object({
    specversion: z.literal('1.0'),
    id: z.string().min(1).max(128),
    source: z.string().min(1).max(256),
    type: z.literal('io.koa.ingest.content.v1'),
    time: IsoTime.optional(),
    datacontenttype: z.literal('application/json').optional(),
    /** who pushed it; defaults to `webhook:<source token>` */
    actor: Actor.optional(),
    reason: z.string().max(1024).optional(),
    traceparent: z.string().optional(),
    data: IngestContent,
  })
  .strict();
export type IngestMessage = z.output<typeof IngestMessageSchema>;
