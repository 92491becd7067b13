import type { IncomingMessage } from 'node:http';
import { Controller, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { Actor, KoaRefusal, assertToken } from '@koa/contracts';
import { ADAPTERS, normalizeMediaType, provenanceInput } from '@koa/ingest/domain';
import type { SnapshotRecord } from '@koa/ingest/data-access';
import { SERVICE_CONFIG } from '@koa/platform/service';
import { lingerThenClose, readJsonBody } from './body';
import type { IngestConfig } from './config';
import { SnapshotService, type SealResult } from './snapshot.service';
import { UploadSpool, type ReceivedContent } from './spool';

/** Largest JSON body accepted on `snapshot-sets` (10,000 digests fit comfortably). */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

interface StatusResponse {
  status(code: number): unknown;
  setHeader(name: string, value: string): unknown;
  once(event: 'finish', listener: () => void): unknown;
  readonly headersSent: boolean;
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

function actorOf(req: IncomingMessage): string {
  const actor = header(req, 'x-koa-actor');
  if (actor === undefined) throw new KoaRefusal('INGEST_MALFORMED', 'header X-Koa-Actor is required (e.g. user:alice)', { field: 'X-Koa-Actor' });
  if (!Actor.safeParse(actor).success) throw new KoaRefusal('INGEST_MALFORMED', `header X-Koa-Actor ${JSON.stringify(actor.slice(0, 80))} must be <kind>:<id> (user, service, schedule, webhook)`, { field: 'X-Koa-Actor' });
  return actor;
}

function reasonOf(req: IncomingMessage): string | undefined {
  const reason = header(req, 'x-koa-reason');
  if (reason === undefined || reason.trim() === '') return undefined;
  if (reason.length > 1024) throw new KoaRefusal('INGEST_MALFORMED', 'header X-Koa-Reason is longer than 1024 characters', { field: 'X-Koa-Reason' });
  return reason.trim();
}

const traceparentOf = (req: IncomingMessage): string | undefined => {
  const t = header(req, 'traceparent');
  return t && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(t) ? t : undefined;
};

/**
 * The ingest-gateway HTTP API (docs/ingest.md). Request bodies are read by this controller
 * itself (see `IngestBodyOwnership`): uploads are hashed and size-checked while they stream in,
 * kept in memory up to the spool threshold and in a private spool file beyond it (`UploadSpool`),
 * then streamed into the object store — memory per upload does not grow with its size.
 */
@Controller('v1/tenants/:tenant')
export class IngestController {
  constructor(
    private readonly snapshots: SnapshotService,
    private readonly spool: UploadSpool,
    @Inject(SERVICE_CONFIG) private readonly config: IngestConfig,
  ) {}

  /**
   * Upload one snapshot: body = the raw bytes, `Content-Type` = their media type.
   * 201 `{ digest, size, mediaType, duplicate: false }` on first capture; 200 with
   * `duplicate: true` when the tenant captured the same bytes before.
   */
  @Post('sources/:source/snapshots')
  async upload(@Param('tenant') tenant: string, @Param('source') source: string, @Req() req: IncomingMessage, @Res({ passthrough: true }) res: StatusResponse) {
    const max = this.config.MAX_INGEST_BYTES;
    let bodyTouched = false;
    let content: ReceivedContent | undefined;
    try {
      assertToken('tenant', tenant);
      assertToken('source', source);
      const mediaType = normalizeMediaType(header(req, 'content-type'), 'Content-Type');
      const actor = actorOf(req);
      const reason = reasonOf(req);
      const provenance = provenanceInput({
        adapter: ADAPTERS.httpUpload,
        sourceRef: header(req, 'x-koa-source-ref'),
        validators: { etag: header(req, 'etag'), 'last-modified': header(req, 'last-modified') },
        field: 'X-Koa-Source-Ref',
      });
      const declared = Number(header(req, 'content-length'));
      if (Number.isFinite(declared) && declared > max) {
        throw new KoaRefusal('INGEST_TOO_LARGE', `Content-Length ${declared} exceeds the maximum of ${max} bytes`, { maxBytes: max, size: declared });
      }
      bodyTouched = true;
      content = await this.spool.receiveRequest(req, max);
      const result = await this.snapshots.capture({
        tenant,
        source,
        mediaType,
        bytes: content.bytes ?? content,
        digest: content.digest,
        size: content.size,
        actor,
        ...(reason !== undefined && { reason }),
        provenance,
        ...(traceparentOf(req) !== undefined && { traceparent: traceparentOf(req) }),
      });
      res.status(result.duplicate ? 200 : 201);
      return { digest: result.digest, size: result.size, mediaType: result.mediaType, duplicate: result.duplicate };
    } catch (e) {
      if (!bodyTouched || !req.readableEnded) {
        // refused before or while reading: drop the rest of the body; the connection closes when
        // the body ends or shortly after the answer (lingering close, so the client reads the answer)
        lingerThenClose(req, res);
      }
      throw e;
    } finally {
      await content?.dispose();
    }
  }

  /** Seal a snapshot set: `{ digests: [...], label? }` ⇒ 201 `{ root, digests, label?, duplicate }`. */
  @Post('snapshot-sets')
  @HttpCode(201)
  async seal(@Param('tenant') tenant: string, @Req() req: IncomingMessage): Promise<SealResult> {
    assertToken('tenant', tenant);
    const actor = actorOf(req);
    const reason = reasonOf(req);
    const body = await readJsonBody(req, MAX_JSON_BODY_BYTES);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new KoaRefusal('REQUEST_INVALID', 'body must be a JSON object { digests, label? }', { field: '(body)' });
    const { digests, label, ...rest } = body as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new KoaRefusal('REQUEST_INVALID', `unknown body field ${unknown[0]}`, { field: unknown[0] });
    if (label !== undefined && (typeof label !== 'string' || label.length > 1024)) throw new KoaRefusal('REQUEST_INVALID', 'label must be a string of at most 1024 characters', { field: 'label' });
    return this.snapshots.seal({ tenant, digests, actor, ...(label !== undefined && { label }), ...(reason !== undefined && { reason }), ...(traceparentOf(req) !== undefined && { traceparent: traceparentOf(req) }) });
  }

  /** A sealed snapshot set by its root hex. */
  @Get('snapshot-sets/:hex')
  getSet(@Param('tenant') tenant: string, @Param('hex') hex: string) {
    assertToken('tenant', tenant);
    return this.snapshots.getSet(tenant, hex);
  }

  /** Metadata and provenance of one snapshot. */
  @Get('snapshots/:hex')
  get(@Param('tenant') tenant: string, @Param('hex') hex: string): Promise<SnapshotRecord> {
    assertToken('tenant', tenant);
    return this.snapshots.get(tenant, hex);
  }

  /** The tenant's snapshots, newest first: `?source=&limit=&before=`. */
  @Get('snapshots')
  async list(@Param('tenant') tenant: string, @Query('source') source?: string, @Query('limit') limit?: string, @Query('before') before?: string) {
    assertToken('tenant', tenant);
    const n = limit === undefined ? undefined : Number(limit);
    const items = await this.snapshots.list(tenant, { ...(source !== undefined && { source }), ...(n !== undefined && { limit: n }), ...(before !== undefined && { before }) });
    return { items };
  }
}
