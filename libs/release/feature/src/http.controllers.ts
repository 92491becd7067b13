import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Request, Response } from 'express';
import { Controller, Get, Header, Inject, Logger, Param, Query, Req, Res } from '@nestjs/common';
import { DIGEST_PATTERN, KoaRefusal, OBJECT_STORES, assertToken, objectNameFor, subjects } from '@koa/contracts';
import { MESSAGING, type Messaging } from '@koa/platform/messaging';
import { ChannelReadModel, type ChannelStatus } from '@koa/release/data-access';
import { RELEASE_KEYS, type ReleaseKeyProvider } from './keys';
import { RecentPacks } from './recent-packs';

/** Media type of a Runtime Pack (koa-pack/1, a deterministic ustar archive). */
export const PACK_MEDIA_TYPE = 'application/vnd.koa.pack.v1+tar';

type RequestLike = Pick<Request, 'headers' | 'method'>;
type ResponseLike = Response;

function assertDigest(digest: string): string {
  if (typeof digest !== 'string' || !DIGEST_PATTERN.test(digest)) {
    throw new KoaRefusal('REQUEST_INVALID', `digest ${JSON.stringify(String(digest).slice(0, 80))} is not sha256:<64 lower-case hex>`, { field: 'digest' });
  }
  return digest;
}

/**
 * Pack download: the exact stored bytes of a Runtime Pack, streamed from the `koa-packs` object
 * store. Content-addressed and tenant-scoped (`<tenant>/<hex>`): one tenant cannot read another's.
 *
 * - `GET /v1/tenants/:tenant/packs/:digest`
 * - `GET /v1/packs/:digest?tenant=<tenant>`
 *
 * 200 with `Content-Type: application/vnd.koa.pack.v1+tar`, `Content-Length`, `ETag: "<digest>"`,
 * `Cache-Control: immutable`; 304 on a matching `If-None-Match`; 404 `PACK_NOT_FOUND`;
 * 400 `REQUEST_INVALID` / `SUBJECT_TOKEN_INVALID` for a malformed digest or tenant.
 * Consumers verify the bytes against their signed notice (`verifyPackBytes`); the service does
 * not vouch for them here.
 */
@Controller('v1')
export class PacksController {
  private readonly log = new Logger('PacksController');
  /** the `koa-packs` object store, opened once (each opening is a stream-info round trip) */

  constructor(
    @Inject(MESSAGING) private readonly messaging: Messaging,
    @Inject(RecentPacks) private readonly recent: RecentPacks,
  ) {}

  /**
   * Sets the pack headers; answers 304 (and returns true) when the client's `If-None-Match`
   * names this pack, else sets Content-Type and Content-Length for the 200.
   */
  private answeredHead(res: ResponseLike, etag: string, notModified: boolean, size: number): boolean {
    this.setPackHeaders(res, etag);
    if (notModified) {
      res.status(304);
      res.end();
      return true;
    }
    res.setHeader('Content-Type', PACK_MEDIA_TYPE);
    res.setHeader('Content-Length', size);
    return false;
  }

  private setPackHeaders(res: ResponseLike, etag: string): void {
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.setHeader('X-Content-Type-Options', 'nosniff');
  }

  @Get('tenants/:tenant/packs/:digest')
  async byTenantPath(@Param('tenant') tenant: string, @Param('digest') digest: string, @Req() req: RequestLike, @Res() res: ResponseLike): Promise<void> {
    await this.serve(tenant, digest, req, res);
  }

  @Get('packs/:digest')
  async byQuery(@Param('digest') digest: string, @Query('tenant') tenant: string | undefined, @Req() req: RequestLike, @Res() res: ResponseLike): Promise<void> {
    if (tenant === undefined) throw new KoaRefusal('REQUEST_INVALID', 'query parameter tenant is required', { field: 'tenant' });
    await this.serve(tenant, digest, req, res);
  }

  private async serve(tenant: string, digest: string, req: RequestLike, res: ResponseLike): Promise<void> {
    assertToken('tenant', tenant);
    assertDigest(digest);
    const name = objectNameFor(tenant, digest);
    const etag = `"${digest}"`;
    const inm = req.headers['if-none-match'];
    const notModified = typeof inm === 'string' && inm.split(',').map((t) => t.trim()).some((t) => t === etag || t === '*');
    // a pack this process just verified for a release: the same bytes as the store's, without reading it again
    const kept = this.recent.get(tenant, digest);
    if (kept) {
      if (this.answeredHead(res, etag, notModified, kept.byteLength)) return;
      res.status(200);
      res.end(req.method === 'HEAD' ? undefined : kept);
      return;
    }
    const store = await this.messaging.blobs(OBJECT_STORES.packs.bucket);
    // a GET that will send the body opens the object stream while its size is looked up (one round trip less)
    const opened = req.method === 'HEAD' || notModified ? Promise.resolve(undefined) : store.getStream(name);
    opened.catch(() => undefined); // handled where it is awaited, below
    const release = async (): Promise<void> => void (await opened.catch(() => undefined))?.cancel().catch(() => undefined);
    const info = await store.info(name).catch(async (e: unknown) => {
      await release();
      throw e;
    });
    const stream = await opened;
    if (!info) {
      await release();
      throw new KoaRefusal('PACK_NOT_FOUND', `no pack ${digest} is stored for tenant ${tenant}`, { tenant, digest });
    }
    if (this.answeredHead(res, etag, notModified, info.size)) return;
    if (req.method === 'HEAD') {
      res.status(200);
      res.end();
      return;
    }
    if (!stream) throw new KoaRefusal('PACK_NOT_FOUND', `no pack ${digest} is stored for tenant ${tenant}`, { tenant, digest });
    res.status(200);
    await new Promise<void>((resolve) => {
      const body = Readable.fromWeb(stream as unknown as WebReadableStream<Uint8Array>);
      body.on('error', (e) => {
        // headers (and Content-Length) are gone: cut the connection so the client sees a short read
        this.log.error({ msg: 'pack stream failed', tenant, digest, error: e.message });
        res.destroy(e);
        resolve();
      });
      res.on('finish', () => resolve());
      res.on('close', () => resolve());
      body.pipe(res);
    });
  }
}

/** Body of `GET /v1/tenants/:tenant/channels/:env/:channel`. */
export type ChannelStatusResponse = ChannelStatus & { readonly subject: string };

/**
 * Channel status: the release currently active on a channel, with its signed notice.
 * `GET /v1/tenants/:tenant/channels/:env/:channel` ⇒ 200 {@link ChannelStatusResponse};
 * 404 `CHANNEL_NOT_FOUND` when no release was ever activated there. Served from the
 * `release.channels` read model (eventually consistent with the channel aggregate, which is the truth).
 */
@Controller('v1/tenants/:tenant/channels')
export class ChannelsController {
  constructor(@Inject(ChannelReadModel) private readonly channels: ChannelReadModel) {}

  @Get(':env/:channel')
  async status(@Param('tenant') tenant: string, @Param('env') env: string, @Param('channel') channel: string): Promise<ChannelStatusResponse> {
    assertToken('tenant', tenant);
    assertToken('env', env);
    assertToken('channel', channel);
    const status = await this.channels.get(tenant, env, channel);
    if (!status) throw new KoaRefusal('CHANNEL_NOT_FOUND', `no release has been activated on channel ${channel} of ${env} for tenant ${tenant}`, { tenant, env, channel });
    return { ...status, subject: subjects.release(tenant, env, channel) };
  }
}

/**
 * Trust roots: `GET /v1/trust/:env` ⇒ the signed trust root JSON (JWS JSON serialisation) that
 * consumers of `env` pin and pass to `loadTrustRoot`; 404 `NOT_FOUND` for an environment this
 * service does not release to.
 */
@Controller('v1/trust')
export class TrustController {
  constructor(@Inject(RELEASE_KEYS) private readonly keys: ReleaseKeyProvider) {}

  @Get(':env')
  @Header('Content-Type', 'application/json; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  async trustRoot(@Param('env') env: string): Promise<string> {
    assertToken('env', env);
    return this.keys.trustRoot(env);
  }
}
