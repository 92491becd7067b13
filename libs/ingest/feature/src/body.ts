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

/** A refused upload's connection is closed once the client has sent nothing for this long after the answer… */
export const REFUSAL_LINGER_IDLE_MS = 5_000;
/** …and at the latest this long after the answer, however much the client still sends. */
export const REFUSAL_LINGER_MAX_MS = 30_000;

/**
 * After a refusal in the middle of a request body: the rest of the body is drained and dropped;
 * the connection is half-closed right after the answer (FIN: nothing more will be written) and
 * fully closed only once the body has ended, or the client has stopped sending for `idleMs`, or
 * `maxMs` after the answer went out — not at once ("lingering close", as HTTP servers do).
 * Closing while the client is still sending makes the client's next write fail (EPIPE), and the reset that a close with unread bytes sends can make the client's kernel discard
 * the answer before the client has read it — on a busy client that can take seconds, so the
 * linger follows the client's activity instead of a fixed time: once it has stopped sending,
 * everything it sent has been drained and the close is a clean one. `maxMs` keeps a client that
 * never stops from holding the connection.
 */
export function lingerThenClose(
  req: IncomingMessage,
  res: { once(event: 'finish', listener: () => void): unknown; setHeader(name: string, value: string): unknown; readonly headersSent: boolean },
  { idleMs = REFUSAL_LINGER_IDLE_MS, maxMs = REFUSAL_LINGER_MAX_MS }: { idleMs?: number; maxMs?: number } = {},
): void {
  discardRest(req);
  // Node answers a request whose body is unread with `Connection: close` and then closes the
  // socket as soon as the answer is written (`destroySoon`) — the reset described above. Declaring
  // the connection ourselves keeps Node from closing it; the half-close below and the bounds here
  // close it instead.
  if (!res.headersSent) res.setHeader('connection', 'keep-alive');
  res.once('finish', () => {
    if (req.readableEnded) return;
    // the answer is out: a FIN right behind it tells the client this connection is done (it reads
    // the answer and EOF even while it is still sending); we keep reading what it still sends
    req.socket.end();
    let idle: NodeJS.Timeout | undefined;
    const stop = () => {
      clearTimeout(idle);
      clearTimeout(cap);
      req.off('data', touch);
    };
    const close = () => {
      stop();
      req.socket.destroy();
    };
    function touch(): void {
      clearTimeout(idle);
      idle = setTimeout(close, idleMs);
      idle.unref();
    }
    const cap = setTimeout(close, maxMs);
    cap.unref();
    touch();
    req.on('data', touch);
    req.once('end', stop);
    req.once('close', stop);
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
