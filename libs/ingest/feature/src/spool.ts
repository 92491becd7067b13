import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, rm, unlink, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { KoaRefusal, type Digest } from '@koa/contracts';
import { ContentMeter } from '@koa/ingest/domain';
import { SERVICE_CONFIG } from '@koa/platform/service';
import { discardRest } from './body';
import type { IngestConfig } from './config';

/** Default size up to which a received body stays in memory: 1 MiB. */
export const DEFAULT_SPOOL_THRESHOLD_BYTES = 1024 * 1024;
/** Spooled bytes are written to the file in batches of this size (and read back in chunks of it). */
const IO_BATCH_BYTES = 256 * 1024;
/** Prefix of the private per-process spool directory created under `INGEST_SPOOL_DIR`. */
export const SPOOL_DIR_PREFIX = 'koa-ingest-spool-';

/**
 * Content received (an HTTP body, an object read from the store) with its SHA-256 digest and size,
 * held in memory when small or in a private spool file when large. Read it with {@link open} as
 * often as needed; {@link dispose} deletes the spool file (idempotent, never throws) and must be
 * called in a `finally` by whoever received it.
 */
export interface ReceivedContent {
  readonly digest: Digest;
  readonly size: number;
  /** the bytes when they stayed in memory (at most the spool threshold), else undefined */
  readonly bytes?: Uint8Array;
  /** the spool file's path when the bytes were spooled, else undefined */
  readonly path?: string;
  /** a fresh stream of the bytes, in chunks of at most 256 KiB (bounded memory however large) */
  open(): ReadableStream<Uint8Array>;
  dispose(): Promise<void>;
}

/**
 * Where large content waits between "hashed while received" and "streamed into the object store":
 * a private directory (mode 0700, created with `mkdtemp` under `INGEST_SPOOL_DIR`, default the OS
 * temp directory) holding one file per content (mode 0600, random name). Bodies up to
 * `INGEST_SPOOL_THRESHOLD_BYTES` (default 1 MiB) stay in memory; past it the bytes received so far
 * and every later chunk go to the file, written with backpressure (the request is paused while a
 * batch is written), so memory per upload stays below the threshold plus 256 KiB whatever its size.
 *
 * Refusals (INGEST_TOO_LARGE the moment the running size crosses the bound, INGEST_EMPTY) and a
 * client abort delete the spool file before the promise rejects; the directory itself is removed
 * when the module is destroyed.
 */
@Injectable()
export class UploadSpool implements OnModuleDestroy {
  private readonly log = new Logger('UploadSpool');
  private dir: Promise<string> | undefined;
  private readonly base: string;
  /** size up to which content stays in memory (0 ⇒ everything is spooled) */
  readonly threshold: number;

  constructor(@Inject(SERVICE_CONFIG) config: Pick<IngestConfig, 'INGEST_SPOOL_DIR' | 'INGEST_SPOOL_THRESHOLD_BYTES'>) {
    this.base = resolve(config.INGEST_SPOOL_DIR ?? tmpdir());
    this.threshold = config.INGEST_SPOOL_THRESHOLD_BYTES ?? DEFAULT_SPOOL_THRESHOLD_BYTES;
  }

  /** The private spool directory (created on first use). */
  directory(): Promise<string> {
    this.dir ??= (async () => {
      await mkdir(this.base, { recursive: true });
      const dir = await mkdtemp(join(this.base, SPOOL_DIR_PREFIX));
      await chmod(dir, 0o700);
      return dir;
    })().catch((e: unknown) => {
      this.dir = undefined;
      throw new KoaRefusal('INTERNAL', `spool directory under ${this.base} could not be created: ${(e as Error).message}`, {}, { cause: e });
    });
    return this.dir;
  }

  async onModuleDestroy(): Promise<void> {
    const dir = this.dir && (await this.dir.catch(() => undefined));
    this.dir = undefined;
    if (dir) await rm(dir, { recursive: true, force: true }).catch((e: unknown) => this.log.warn({ msg: 'spool directory not removed', dir, error: (e as Error).message }));
  }

  /**
   * Receives an HTTP request body: hashes and meters every chunk (refusing INGEST_TOO_LARGE as
   * soon as `maxBytes` is crossed — the rest of the body is drained unread so the client can read
   * the refusal — and INGEST_EMPTY for zero bytes) and keeps the bytes in memory or in the spool.
   * A client abort or socket error rejects with REQUEST_INVALID. On every rejection the spool
   * file is already deleted.
   */
  receiveRequest(req: IncomingMessage, maxBytes: number): Promise<ReceivedContent> {
    const meter = new ContentMeter(maxBytes);
    const sink = new SpoolSink(this);
    return new Promise<ReceivedContent>((resolvePromise, reject) => {
      let settled = false;
      let queue: Promise<void> = Promise.resolve();
      const cleanup = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        req.off('close', onClose);
      };
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        cleanup();
        // the stream is still paused if a write was in flight: drain it so the refusal can be answered
        discardRest(req);
        void sink.abort().then(
          () => reject(e),
          () => reject(e),
        );
      };
      const onData = (chunk: Buffer) => {
        if (settled) return;
        try {
          meter.update(chunk);
        } catch (e) {
          fail(e);
          return;
        }
        const write = sink.write(chunk);
        if (write) {
          req.pause();
          write.catch(() => undefined); // handled through the queue below
          queue = queue.then(() => write).then(() => {
            if (!settled) req.resume();
          });
          queue.catch(fail);
        }
      };
      const onEnd = () => {
        if (settled) return;
        queue
          .then(() => {
            const { digest, size } = meter.finish();
            return sink.finish(digest, size);
          })
          .then((content) => {
            if (settled) return content.dispose();
            settled = true;
            cleanup();
            resolvePromise(content);
          })
          .catch(fail);
      };
      const onError = (e: Error) => fail(new KoaRefusal('REQUEST_INVALID', `request body could not be read: ${e.message}`, {}, { cause: e }));
      const onClose = () => {
        if (!req.readableEnded) fail(new KoaRefusal('REQUEST_INVALID', 'request body could not be read: the client closed the connection before the end of the body'));
      };
      if (req.readableEnded) {
        reject(new KoaRefusal('INTERNAL', 'request body was consumed before ingest-gateway could read it'));
        return;
      }
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
    });
  }

  /**
   * Receives a web stream (an object read from the store): same metering, hashing and spooling as
   * {@link receiveRequest}; on a refusal the source is cancelled and the spool file deleted.
   */
  async receiveStream(source: ReadableStream<Uint8Array>, maxBytes: number): Promise<ReceivedContent> {
    const meter = new ContentMeter(maxBytes);
    const sink = new SpoolSink(this);
    const reader = source.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        meter.update(value);
        await sink.write(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
      }
      const { digest, size } = meter.finish();
      return await sink.finish(digest, size);
    } catch (e) {
      await reader.cancel().catch(() => undefined);
      await sink.abort();
      throw e;
    }
  }
}

/** Content that never left memory. */
export function inMemoryContent(bytes: Uint8Array, digest: Digest): ReceivedContent {
  return {
    digest,
    size: bytes.byteLength,
    bytes,
    open: () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let at = 0; at < bytes.byteLength; at += IO_BATCH_BYTES) c.enqueue(bytes.subarray(at, at + IO_BATCH_BYTES));
          c.close();
        },
      }),
    dispose: () => Promise.resolve(),
  };
}

/** Buffers chunks in memory up to the threshold, then moves them (and all later ones) to a file. */
class SpoolSink {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private total = 0;
  private file: FileHandle | undefined;
  private path: string | undefined;
  private aborted = false;

  constructor(private readonly spool: UploadSpool) {}

  /** Takes a chunk; returns a promise only when it starts a write to the file (await it before the next). */
  write(chunk: Buffer): Promise<void> | undefined {
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    this.total += chunk.byteLength;
    if (this.path === undefined ? this.total <= this.spool.threshold : this.buffered < IO_BATCH_BYTES) return undefined;
    return this.flush();
  }

  async finish(digest: Digest, size: number): Promise<ReceivedContent> {
    if (this.path === undefined) {
      const bytes = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
      this.chunks = [];
      return inMemoryContent(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), digest);
    }
    await this.flush();
    const file = this.file;
    this.file = undefined;
    await file?.close();
    return spooledContent(this.path, digest, size);
  }

  /** Closes and deletes the spool file, if any. Never throws. */
  async abort(): Promise<void> {
    this.aborted = true;
    this.chunks = [];
    const file = this.file;
    this.file = undefined;
    await file?.close().catch(() => undefined);
    if (this.path !== undefined) await unlink(this.path).catch(() => undefined);
  }

  private async flush(): Promise<void> {
    try {
      await this.flushToFile();
    } catch (e) {
      if (e instanceof KoaRefusal) throw e;
      throw new KoaRefusal('INTERNAL', `spool file ${this.path ?? '(not created)'} could not be written: ${(e as Error).message}`, {}, { cause: e });
    }
  }

  private async flushToFile(): Promise<void> {
    if (this.path === undefined) {
      this.path = join(await this.spool.directory(), randomUUID());
      this.file = await open(this.path, 'wx', 0o600);
    }
    const file = this.file;
    if (this.aborted || !file) {
      await this.abort();
      return;
    }
    const batch = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    for (let at = 0; at < batch.byteLength; ) {
      const { bytesWritten } = await file.write(batch, at, batch.byteLength - at);
      at += bytesWritten;
    }
  }
}

/** A spool file read back as a stream; `dispose` closes open readers and deletes the file. */
function spooledContent(path: string, digest: Digest, size: number): ReceivedContent {
  const readers = new Set<FileHandle>();
  let disposed = false;
  return {
    digest,
    size,
    path,
    open() {
      if (disposed) throw new Error(`spool file ${path} was disposed`);
      let file: FileHandle | undefined;
      let position = 0;
      const close = async () => {
        const f = file;
        file = undefined;
        if (f) {
          readers.delete(f);
          await f.close().catch(() => undefined);
        }
      };
      return new ReadableStream<Uint8Array>(
        {
          async pull(c) {
            if (!file) {
              file = await open(path, 'r');
              readers.add(file);
            }
            const buf = Buffer.allocUnsafe(IO_BATCH_BYTES);
            const { bytesRead } = await file.read(buf, 0, IO_BATCH_BYTES, position);
            if (bytesRead === 0) {
              await close();
              c.close();
              return;
            }
            position += bytesRead;
            c.enqueue(new Uint8Array(buf.buffer, buf.byteOffset, bytesRead));
          },
          cancel: close,
        },
        { highWaterMark: 0 },
      );
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await Promise.all([...readers].map((f) => f.close().catch(() => undefined)));
      readers.clear();
      await unlink(path).catch(() => undefined);
    },
  };
}
