import type { IncomingMessage } from 'node:http';
import { KoaRefusal } from '@koa/contracts';

/**
 * Reads a request body chunk by chunk, handing each chunk to `onChunk` first (which may throw to
 * refuse, e.g. INGEST_TOO_LARGE). On a refusal the chunks read so far are dropped, the rest of the
 * body is drained and discarded (so the client can read the refusal), and the promise rejects.
 */
export function readBody(req: IncomingMessage, onChunk: (chunk: Buffer) => void): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let chunks: Buffer[] = [];
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      try {
        onChunk(chunk);
        chunks.push(chunk);
      } catch (e) {
        cleanup();
        chunks = [];
        discardRest(req);
        reject(e);
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (e: Error) => {
      cleanup();
      chunks = [];
      reject(new KoaRefusal('REQUEST_INVALID', `request body could not be read: ${e.message}`, {}, { cause: e }));
    };
    if (req.readableEnded) {
      // a body parser consumed it before us: refuse rather than hash an empty or re-encoded body
      reject(new KoaRefusal('INTERNAL', 'request body was consumed before ingest-gateway could read it'));
      return;
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** Drains the rest of a body without keeping it (a refusal leaves nothing behind). */
export function discardRest(req: IncomingMessage): void {
  req.on('error', () => undefined);
  req.resume();
}

/** How long a refused upload's connection keeps draining the body after the answer was sent. */
export const REFUSAL_LINGER_MS = 2_000;

/**
 * After a refusal in the middle of a request body: the rest of the body is drained and dropped,
 * and the connection is closed only once the body has ended or `lingerMs` after the answer went
 * out — not at once. Closing while the client is still sending makes the client's next write
 * fail (EPIPE) and the reset can discard the answer it has not read yet ("lingering close", as
 * HTTP servers do); the bound keeps a client that never stops from holding the connection.
 */
export function lingerThenClose(req: IncomingMessage, res: { once(event: 'finish', listener: () => void): unknown }, lingerMs = REFUSAL_LINGER_MS): void {
  discardRest(req);
  res.once('finish', () => {
    if (req.readableEnded) return;
    const timer = setTimeout(() => req.socket.destroy(), lingerMs);
    timer.unref();
    req.once('end', () => clearTimeout(timer));
    req.once('close', () => clearTimeout(timer));
  });
}

/** Reads a small JSON body (at most `maxBytes`), refusing REQUEST_INVALID if too large or not JSON. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  let size = 0;
  const bytes = await readBody(req, (chunk) => {
    size += chunk.byteLength;
    if (size > maxBytes) throw new KoaRefusal('REQUEST_INVALID', `request body exceeds ${maxBytes} bytes`, { maxBytes });
  });
  if (bytes.byteLength === 0) throw new KoaRefusal('REQUEST_INVALID', 'request body is empty (expected JSON)', { field: '(body)' });
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new KoaRefusal('REQUEST_INVALID', `request body is not valid JSON: ${(e as Error).message}`, { field: '(body)' }, { cause: e });
  }
}
