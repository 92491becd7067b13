import { z } from 'zod';
import { Actor, IsoTime, Token } from './schema';

/**
 * The CloudEvents 1.0 structured-mode JSON envelope (ARCHITECTURE.md §4) with kOA extensions.
 *
 * - `id` is unique per `source`; (`source`, `id`) is the de-duplication key (Nats-Msg-Id).
 * - `subject` is `<aggregate>/<id>`, matching the NATS subject `koa.evt.<tenant>.<aggregate>.<id>`.
 * - `correlationid` is the Case; `causationid` the event that caused this one.
 */
export const EnvelopeSchema = z
  .object({
    specversion: z.literal('1.0'),
    id: z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:-]+$/),
    source: z.string().regex(/^\/koa\/[a-z0-9-]+(\/[A-Za-z0-9_-]{1,64})?$/, 'must be /koa/<service>[/<instance>]'),
    type: z.string().regex(/^io\.koa\.[a-z]+(\.[a-z-]+)+\.v[0-9]+$/, 'must be io.koa.<domain>.<event>.v<N>'),
    subject: z.string().regex(/^[a-z]+\/[A-Za-z0-9_-]{1,64}$/, 'must be <aggregate>/<id>'),
    time: IsoTime,
    datacontenttype: z.literal('application/json'),
    dataschema: z.string().max(256).optional(),
    data: z.unknown(),
    tenantid: Token,
    correlationid: z.string().max(128).optional(),
    causationid: z.string().max(128).optional(),
    actor: Actor,
    reason: z.string().max(1024).optional(),
    traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/).optional(),
  })
  .strict();

export type Envelope = z.output<typeof EnvelopeSchema>;

/** A typed kOA event: the envelope with its `type` and `data` narrowed. */
export type KoaEvent<T extends string = string, D = unknown> = Readonly<Omit<Envelope, 'type' | 'data'> & { type: T; data: D }>;

/** The de-duplication key (CloudEvents: source + id), used as Nats-Msg-Id and in inboxes. */
export const dedupKey = (event: Pick<Envelope, 'source' | 'id'>): string => `${event.source}#${event.id}`;
