import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isKoaRefusal, KoaRefusal, REFUSALS } from '@koa/contracts';
import type { RuntimeClient } from '@koa/runtime-client';

/**
 * The example consumer's HTTP surface (read-only, answered from the active pack):
 * - `GET /status`            RuntimeStatus JSON (always 200)
 * - `GET /health/ready`      200 when a pack is served (active or degraded-stale), else 503
 * - `GET /entities/:id`      the entity, 404 NOT_FOUND, 503 CONSUMER_NO_ACTIVE_PACK
 * - `GET /search?q=&limit=`  `{ results: PackEntity[] }`, 400 REQUEST_INVALID without q
 * Errors are RFC 7807 problem+json with the refusal `code`.
 */
export function createConsumerHttpServer(client: RuntimeClient): Server {
  return createServer((req, res) => {
    try {
      route(client, req, res);
    } catch (e) {
      problem(res, isKoaRefusal(e) ? e : new KoaRefusal('INTERNAL', 'unexpected error'), req.url ?? '');
    }
  });
}

function route(client: RuntimeClient, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://consumer.local');
  if (req.method !== 'GET') throw new KoaRefusal('REQUEST_INVALID', `method ${req.method} is not supported`);
  if (url.pathname === '/status') return json(res, 200, client.status());
  if (url.pathname === '/health/ready') {
    const { state } = client.status();
    const serving = state === 'active' || state === 'degraded-stale';
    return json(res, serving ? 200 : 503, { ready: serving, state });
  }
  const entity = /^\/entities\/([^/]+)$/.exec(url.pathname);
  if (entity) {
    const id = decodeURIComponent(entity[1]);
    const found = client.lookup(id);
    if (!found) throw new KoaRefusal('NOT_FOUND', `no entity ${JSON.stringify(id.slice(0, 80))} in the active pack`);
    return json(res, 200, found);
  }
  if (url.pathname === '/search') {
    const q = url.searchParams.get('q');
    if (!q) throw new KoaRefusal('REQUEST_INVALID', 'query parameter q is required');
    const limitText = url.searchParams.get('limit');
    const limit = limitText === null ? undefined : Number(limitText);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) throw new KoaRefusal('REQUEST_INVALID', 'limit must be an integer 1..1000');
    return json(res, 200, { query: q, results: client.search(q, limit) });
  }
  throw new KoaRefusal('NOT_FOUND', `no route ${url.pathname}`);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

function problem(res: ServerResponse, e: KoaRefusal, instance: string): void {
  const status = REFUSALS[e.code].http;
  const text = JSON.stringify({ type: `urn:koa:refusal:${e.code}`, title: e.code, status, detail: e.message, code: e.code, instance });
  res.writeHead(status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(text) }).end(text);
}
