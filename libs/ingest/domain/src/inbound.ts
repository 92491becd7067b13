import { Actor, IngestMessageSchema, KoaRefusal, isToken, parseIngestSubject, type IngestMessage } from '@koa/contracts';
import { normalizeMediaType, type IngestMediaType } from './content';

/** Where an inbound message's bytes are. */
export type InboundContent =
  | { readonly kind: 'inline'; readonly bytes: Uint8Array }
  | { readonly kind: 'object'; readonly objectRef: string };

/** A validated inbound message from `koa.ingest.<tenant>.<source>`. */
export interface InboundCapture {
  readonly tenant: string;
  readonly source: string;
  readonly message: IngestMessage;
  readonly mediaType: IngestMediaType;
  readonly sourceRef: string;
  /** `actor` of the message, default `webhook:<source>` */
  readonly actor: string;
  readonly content: InboundContent;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Reads the tenant and source from an ingest subject. An unparseable subject or an invalid token
 * is refused SUBJECT_TOKEN_INVALID (such a message cannot even be attributed to a tenant).
 */
export function parseInboundSubject(subject: string): { tenant: string; source: string } {
  const parsed = parseIngestSubject(subject);
  if (!parsed || !isToken('tenant', parsed.tenant) || !isToken('source', parsed.source)) {
    throw new KoaRefusal('SUBJECT_TOKEN_INVALID', `ingest subject ${JSON.stringify(subject.slice(0, 200))} is not koa.ingest.<tenant>.<source> with valid tokens`, { subject: subject.slice(0, 200) });
  }
  return parsed;
}

/**
 * Validates an inbound message (untrusted bytes) against IngestMessageSchema and decodes its
 * content. Refusals: INGEST_MALFORMED naming the field (bad JSON, schema, base64, media type,
 * an objectRef outside `<tenant>/`), INGEST_EMPTY for empty inline content.
 * The size bound is enforced by the caller while it reads the bytes.
 */
export function decodeInbound(tenant: string, source: string, bytes: Uint8Array): InboundCapture {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (cause) {
    throw new KoaRefusal('INGEST_MALFORMED', `ingest message is not valid JSON: ${(cause as Error).message}`, { field: '(body)' }, { cause });
  }
  const parsed = IngestMessageSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.length ? issue.path.join('.') : '(root)';
    throw new KoaRefusal('INGEST_MALFORMED', `ingest message field ${field}: ${issue.message}`, { field });
  }
  const message = parsed.data;
  const mediaType = normalizeMediaType(message.data.mediaType, 'data.mediaType');
  const actor = message.actor ?? `webhook:${source}`;
  if (!Actor.safeParse(actor).success) throw new KoaRefusal('INGEST_MALFORMED', `actor ${JSON.stringify(actor)} is not <kind>:<id>`, { field: 'actor' });
  let content: InboundContent;
  if ('objectRef' in message.data) {
    const ref = message.data.objectRef;
    if (!ref.startsWith(`${tenant}/`) || ref.includes('..') || !/^[A-Za-z0-9_./=-]+$/.test(ref)) {
      throw new KoaRefusal('INGEST_MALFORMED', `data.objectRef ${JSON.stringify(ref.slice(0, 128))} must name an entry under "${tenant}/" in koa-snapshots`, { field: 'data.objectRef' });
    }
    content = { kind: 'object', objectRef: ref };
  } else if (message.data.encoding === 'base64') {
    const text = message.data.content.replace(/\s+/g, '');
    if (!BASE64.test(text)) throw new KoaRefusal('INGEST_MALFORMED', 'data.content is not valid base64', { field: 'data.content' });
    content = { kind: 'inline', bytes: new Uint8Array(Buffer.from(text, 'base64')) };
  } else {
    content = { kind: 'inline', bytes: new Uint8Array(Buffer.from(message.data.content, 'utf8')) };
  }
  if (content.kind === 'inline' && content.bytes.byteLength === 0) throw new KoaRefusal('INGEST_EMPTY', 'data.content has zero bytes', { field: 'data.content', size: 0 });
  return { tenant, source, message, mediaType, sourceRef: message.data.sourceRef, actor, content };
}
