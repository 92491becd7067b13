import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { digestHex, DigestSchema, Env, IsoTime, KoaRefusal, Token } from '@koa/contracts';

/** One activated release as remembered on disk. File names are relative to the data dir. */
export const StoredReleaseSchema = z.strictObject({
  version: z.number().int().positive(),
  releaseId: Token,
  packDigest: DigestSchema,
  packSize: z.number().int().positive(),
  /** `notices/<version>.jws`: the exact signed bytes that were verified */
  noticeFile: z.string().regex(/^notices\/[0-9]{1,15}\.jws$/),
  /** `packs/<digest hex>.pack` */
  packFile: z.string().regex(/^packs\/[0-9a-f]{64}\.pack$/),
  activatedAt: IsoTime,
});
export type StoredRelease = z.output<typeof StoredReleaseSchema>;

/** Outbox key: names sort oldest first (`<15-digit ms>-<9-digit seq>-<event id>`). */
export const ReportKey = z.string().regex(/^[0-9]{15}-[0-9]{9}-[A-Za-z0-9_-]{1,256}$/);

/** At most this many unsent activation reports ride in `state.json`; older ones move to the outbox. */
export const STATE_REPORTS_MAX = 16;

/** An activation report carried by `state.json` until NATS acknowledges it (docs/runtime-consumer.md §4). */
export const PendingReportSchema = z.strictObject({ key: ReportKey, event: z.record(z.string(), z.unknown()) });
export type PendingReport = z.output<typeof PendingReportSchema>;

/** `state.json`: an index over the signed files. It is never trusted on its own: boot re-verifies. */
export const RuntimeStateSchema = z.strictObject({
  format: z.literal('koa-runtime-state/1'),
  scope: z.strictObject({ tenant: Token, env: Env, channel: Token }),
  /** highest notice version ever accepted for this scope: the rollback floor */
  lastTrustedVersion: z.number().int().nonnegative(),
  active: StoredReleaseSchema.optional(),
  previous: StoredReleaseSchema.optional(),
  /**
   * `ConsumerActivated` reports not yet acknowledged by NATS, oldest first: each is written in
   * the same atomic rename as the activation it reports, so it is never lost and never names an
   * activation that a crash undid.
   */
  reports: z.array(PendingReportSchema).max(STATE_REPORTS_MAX).optional(),
});
export type RuntimeState = z.output<typeof RuntimeStateSchema>;

/**
 * The consumer's data directory:
 *
 * ```
 * <dir>/state.json            index: lastTrustedVersion, active, previous
 * <dir>/notices/<version>.jws the exact signed notice bytes
 * <dir>/packs/<hex>.pack      the exact pack bytes
 * <dir>/outbox/<id>.json      activation/refusal reports not yet acknowledged by NATS
 * ```
 *
 * Every write is atomic: a temp file in the same directory, write, fsync, rename, fsync of the
 * directory.
 * `state.json` is written last, so a crash leaves either the old or the new state, both pointing
 * at complete files. {@link PackStore.stage} splits this in two so that the disk write of a file
 * runs while the caller keeps the CPU. {@link PackStore.place} writes a content-addressed pack or
 * a verified notice under its final name directly (no rename): such a file is used only once
 * `state.json` names it, and every use re-checks it against a signed digest.
 */
export class PackStore {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    for (const sub of ['', 'notices', 'packs', 'outbox']) await fs.mkdir(join(this.dir, sub), { recursive: true, mode: 0o700 });
  }

  /** The state, undefined if none was ever written; throws a refusal (code INTERNAL) if unreadable. */
  async readState(): Promise<RuntimeState | undefined> {
    let text: string;
    try {
      text = await fs.readFile(join(this.dir, 'state.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new KoaRefusal('INTERNAL', `${join(this.dir, 'state.json')} is not JSON`, {}, { cause });
    }
    const parsed = RuntimeStateSchema.safeParse(json);
    if (!parsed.success) throw new KoaRefusal('INTERNAL', `${join(this.dir, 'state.json')} is invalid: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }

  async writeState(state: RuntimeState): Promise<void> {
    await this.writeAtomic('state.json', `${JSON.stringify(RuntimeStateSchema.parse(state), null, 2)}\n`);
  }

  packFileFor(digest: string): string {
    return `packs/${digestHex(digest)}.pack`;
  }

  noticeFileFor(version: number): string {
    return `notices/${version}.jws`;
  }

  /** Versions of the notices on disk, highest first (from file names; the files are verified by the caller). */
  async noticeVersions(): Promise<number[]> {
    const names = await fs.readdir(join(this.dir, 'notices'));
    return names
      .map((n) => /^([0-9]{1,15})\.jws$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .filter((v) => Number.isSafeInteger(v) && v > 0)
      .sort((a, b) => b - a);
  }

  async writePack(digest: string, bytes: Uint8Array): Promise<string> {
    const file = this.packFileFor(digest);
    await this.writeAtomic(file, bytes);
    return file;
  }

  async writeNotice(version: number, jws: string): Promise<string> {
    const file = this.noticeFileFor(version);
    await this.writeAtomic(file, jws);
    return file;
  }

  /** Reads a file named in the state (relative path, validated by the schema). */
  async read(file: string): Promise<Uint8Array> {
    return new Uint8Array(await fs.readFile(join(this.dir, file)));
  }

  async readText(file: string): Promise<string> {
    return fs.readFile(join(this.dir, file), 'utf8');
  }

  async exists(file: string): Promise<boolean> {
    return fs.access(join(this.dir, file)).then(
      () => true,
      () => false,
    );
  }

  /** Deletes packs and notices that neither `keep` release references, and leftover temp files (`.tmp-*`). Call it only when no write is staged. */
  async prune(keep: ReadonlyArray<StoredRelease | undefined>): Promise<void> {
    const wanted = new Set(keep.flatMap((r) => (r ? [r.packFile, r.noticeFile] : [])));
    for (const sub of ['packs', 'notices']) {
      for (const name of await fs.readdir(join(this.dir, sub))) {
        const rel = `${sub}/${name}`;
        if (!wanted.has(rel)) await fs.rm(join(this.dir, rel), { force: true });
      }
    }
    // a state or report staged by an activation that a crash interrupted
    for (const sub of ['', 'outbox']) {
      for (const name of await fs.readdir(join(this.dir, sub))) if (name.startsWith('.tmp-')) await fs.rm(join(this.dir, sub, name), { force: true });
    }
  }

  // ---- outbox of reports ---------------------------------------------------------------
  /** Stores a report under `key` (names sort oldest first); keeps at most `max`, dropping the oldest. */
  async putOutbox(key: string, event: unknown, max = 1000): Promise<void> {
    await this.writeAtomic(`outbox/${key}.json`, JSON.stringify(event));
    await this.trimOutbox(max);
  }

  /** Starts writing a report like {@link putOutbox}; it is listed only after `commit()` (then call {@link trimOutbox}). */
  stageOutbox(key: string, event: unknown): StagedFile {
    return this.stage(`outbox/${key}.json`, JSON.stringify(event));
  }

  /** Starts writing `state.json` (see {@link stage}); `commit()` is the switch point. */
  stageState(state: RuntimeState): StagedFile {
    return this.stage('state.json', `${JSON.stringify(RuntimeStateSchema.parse(state), null, 2)}\n`);
  }

  /** Keeps at most `max` reports, dropping the oldest. */
  async trimOutbox(max = 1000): Promise<void> {
    const names = (await fs.readdir(join(this.dir, 'outbox'))).filter((n) => n.endsWith('.json')).sort();
    for (const name of names.slice(0, Math.max(0, names.length - max))) await fs.rm(join(this.dir, 'outbox', name), { force: true });
  }

  async listOutbox(): Promise<Array<{ id: string; event: unknown }>> {
    const out: Array<{ id: string; event: unknown }> = [];
    for (const name of (await fs.readdir(join(this.dir, 'outbox'))).sort()) {
      if (!name.endsWith('.json')) continue;
      try {
        out.push({ id: name.slice(0, -5), event: JSON.parse(await fs.readFile(join(this.dir, 'outbox', name), 'utf8')) });
      } catch {
        await fs.rm(join(this.dir, 'outbox', name), { force: true });
      }
    }
    return out;
  }

  async removeOutbox(id: string): Promise<void> {
    await fs.rm(join(this.dir, 'outbox', `${id}.json`), { force: true });
  }

  /**
   * Starts writing `content` to a temp file next to `rel` and returns at once (without waiting
   * even for the open): the open, write and fsync proceed on the I/O pool while the caller keeps the CPU (e.g. verifying
   * the very bytes); the fsync follows it. `commit()` waits for write + fsync, renames the file to
   * `rel` and fsyncs the directory; `discard()` removes the temp file. A staged file is invisible
   * under its final name until `commit()`, and `prune` removes leftovers of a crash.
   * (`O_SYNC` was measured 3–5× slower than write + fsync on ext4, so it is not used.)
   */
  stage(rel: string, content: Uint8Array | string): StagedFile {
    const target = join(this.dir, rel);
    const dir = dirname(target);
    const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    let opened = false;
    const written = (async () => {
      const handle = await fs.open(tmp, 'wx', 0o600);
      opened = true;
      await writeAllAndSync(handle, data);
    })();
    written.catch(() => undefined); // surfaced by commit(); discard() ignores it
    return {
      file: rel,
      commit: async () => {
        await written;
        await fs.rename(tmp, target);
        await fsyncDir(dir);
      },
      discard: async () => {
        await written.catch(() => undefined);
        if (opened) await fs.rm(tmp, { force: true });
      },
    };
  }

  /**
   * Writes `content` directly under its final name `rel` (created or truncated), fsyncs it and its
   * directory, all on the I/O pool; returns at once. For files that nothing uses before
   * `state.json` names them and whose every use re-checks them against a signed digest: a pack
   * under `packs/<digest hex>.pack`, a verified notice under `notices/<version>.jws` (never a
   * version `state.json` names). A crash may leave such a file partial; `prune` removes it (no
   * state names it) and a reuse checks its digest first. `commit()` waits for durability;
   * `discard()` waits, then deletes the file.
   */
  place(rel: string, content: Uint8Array | string): StagedFile {
    const target = join(this.dir, rel);
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    let markOpened: () => void = () => undefined;
    const opened = new Promise<void>((resolve) => (markOpened = resolve));
    const written = (async () => {
      const handle = await fs.open(target, 'w', 0o600).finally(() => markOpened());
      // the directory entry exists from the open on: its fsync runs beside the data's write + fsync
      const entry = fsyncDir(dirname(target));
      entry.catch(() => undefined);
      await writeAllAndSync(handle, data);
      await entry;
    })();
    written.catch(() => undefined); // surfaced by commit(); discard() ignores it
    return {
      file: rel,
      opened,
      commit: () => written,
      discard: async () => {
        await written.catch(() => undefined);
        await fs.rm(target, { force: true });
      },
    };
  }

  /**
   * Makes an existing file (a pack already on disk, reused) durable: fsync of the file and its
   * directory. `discard()` does nothing: a file that existed before is never deleted here.
   */
  syncExisting(rel: string): StagedFile {
    const target = join(this.dir, rel);
    const synced = (async () => {
      const handle = await fs.open(target, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsyncDir(dirname(target));
    })();
    synced.catch(() => undefined);
    return { file: rel, commit: () => synced, discard: () => synced.catch(() => undefined) };
  }

  private async writeAtomic(rel: string, content: Uint8Array | string): Promise<void> {
    await this.stage(rel, content).commit();
  }
}

/** A file being written by {@link PackStore.stage}. */
export interface StagedFile {
  /** the final name, relative to the data dir */
  readonly file: string;
  /** resolves once the file is open (its write is then under way); only {@link PackStore.place} sets it */
  readonly opened?: Promise<void>;
  /** waits for write + fsync, then renames into place and fsyncs the directory (for {@link PackStore.place}: waits for write + fsyncs) */
  commit(): Promise<void>;
  /** waits for the write to end, then deletes the temp file (for {@link PackStore.place}: the file) */
  discard(): Promise<void>;
}

/** Writes every byte of `data` from offset 0, fsyncs, and closes the handle (also on failure). */
async function writeAllAndSync(handle: fs.FileHandle, data: Uint8Array): Promise<void> {
  try {
    for (let at = 0; at < data.byteLength; ) {
      const { bytesWritten } = await handle.write(data, at, data.byteLength - at, at);
      at += bytesWritten;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
