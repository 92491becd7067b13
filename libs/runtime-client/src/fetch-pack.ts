import { assertToken, DIGEST_PATTERN, KoaRefusal } from '@koa/contracts';

/** Downloads the pack named by `digest`, refusing (RELEASE_PACK_SIZE_MISMATCH) past `maxBytes`. */
export type PackFetcher = (digest: string, maxBytes: number) => Promise<Uint8Array>;

export interface HttpPackFetcherOptions {
  /** base URL of konnaxion-release, e.g. `http://release:3000` */
  readonly releaseUrl: string;
  readonly tenant: string;
  /** whole-download timeout; default 60 s */
  readonly timeoutMs?: number;
}

/**
 * The default fetcher: `GET <releaseUrl>/v1/tenants/<tenant>/packs/<digest>` with a hard size
 * bound. A `Content-Length` above the bound is refused before reading; otherwise the body is
 * read chunk by chunk and the request aborted as soon as more than `maxBytes` arrived
 * (RELEASE_PACK_SIZE_MISMATCH). Non-200 answers, network errors and timeouts are
 * CONSUMER_DOWNLOAD_FAILED (retryable). The bytes are NOT trusted here: the caller checks them
 * with `verifyPackBytes` against the verified notice.
 */
export function httpPackFetcher(o: HttpPackFetcherOptions): PackFetcher {
  const base = o.releaseUrl.replace(/\/+$/, '');
  const tenant = assertToken('tenant', o.tenant);
  const timeoutMs = o.timeoutMs ?? 60_000;
  return async (digest, maxBytes) => {
    if (!DIGEST_PATTERN.test(digest)) throw new KoaRefusal('RELEASE_PACK_DIGEST_MISMATCH', `not a pack digest: ${digest.slice(0, 80)}`);
    const url = `${base}/v1/tenants/${tenant}/packs/${encodeURIComponent(digest)}`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    try {
      let res: Response;
      try {
        res = await fetch(url, { signal: controller.signal, headers: { accept: 'application/vnd.koa.pack.v1+tar' } });
      } catch (cause) {
        throw new KoaRefusal('CONSUMER_DOWNLOAD_FAILED', `GET ${url} failed: ${(cause as Error).message}`, { url }, { cause });
      }
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => undefined);
        throw new KoaRefusal('CONSUMER_DOWNLOAD_FAILED', `GET ${url} answered ${res.status}`, { url, status: res.status });
      }
      const declared = Number(res.headers.get('content-length') ?? Number.NaN);
      if (Number.isFinite(declared) && declared > maxBytes) {
        controller.abort();
        throw new KoaRefusal('RELEASE_PACK_SIZE_MISMATCH', `GET ${url} announces ${declared} bytes, more than the bound ${maxBytes}`, { url, declared, maxBytes });
      }
      const chunks: Uint8Array[] = [];
      let total = 0;
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          total += value.byteLength;
          if (total > maxBytes) {
            controller.abort();
            throw new KoaRefusal('RELEASE_PACK_SIZE_MISMATCH', `GET ${url} sent more than the bound ${maxBytes} bytes; download aborted`, { url, maxBytes });
          }
          chunks.push(value);
        }
      } catch (e) {
        if (e instanceof KoaRefusal) throw e;
        throw new KoaRefusal('CONSUMER_DOWNLOAD_FAILED', `GET ${url} broke off: ${(e as Error).message}`, { url }, { cause: e });
      } finally {
        reader.releaseLock();
      }
      const out = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.byteLength;
      }
      return out;
    } finally {
      clearTimeout(timer);
    }
  };
}
