import { KoaRefusal } from '@koa/contracts';

/**
 * A deliberately tiny, strict POSIX ustar (IEEE Std 1003.1-1988) writer and reader.
 *
 * The writer emits exactly one header shape (docs/pack-format.md §2): regular files only
 * (typeflag `0`), mode `0644`, uid/gid `0`, mtime `0`, empty uname/gname, empty prefix, the name in
 * the 100-byte `name` field, data padded to 512 bytes with NUL, two NUL blocks at the end and no
 * further record padding. The reader accepts only what the writer would have produced: every header
 * is rebuilt from its (name, size) and compared byte for byte, so links, devices, directories,
 * pax/GNU extensions, timestamps, owners, absolute paths, `..` and trailing garbage are all refused
 * with PACK_FORMAT_INVALID naming the entry and the field.
 */

export const BLOCK = 512;
/** Entry paths: lower-case ASCII segments, no empty/dot-leading segments (so no `..`, no `/x`). */
export const TAR_PATH_PATTERN = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
const MAX_NAME_BYTES = 100;
/** The size field holds 11 octal digits. */
const MAX_ENTRY_SIZE = 0o77777777777;

export interface TarEntry {
  readonly path: string;
  readonly data: Uint8Array;
}

/** Header fields in order: [name, offset, length]. */
const FIELDS = [
  ['name', 0, 100],
  ['mode', 100, 8],
  ['uid', 108, 8],
  ['gid', 116, 8],
  ['size', 124, 12],
  ['mtime', 136, 12],
  ['chksum', 148, 8],
  ['typeflag', 156, 1],
  ['linkname', 157, 100],
  ['magic', 257, 6],
  ['version', 263, 2],
  ['uname', 265, 32],
  ['gname', 297, 32],
  ['devmajor', 329, 8],
  ['devminor', 337, 8],
  ['prefix', 345, 155],
  ['pad', 500, 12],
] as const;

const invalid = (message: string, details: Record<string, unknown> = {}): KoaRefusal =>
  new KoaRefusal('PACK_FORMAT_INVALID', message, details);

function assertPath(path: string): void {
  if (!TAR_PATH_PATTERN.test(path) || path.length > MAX_NAME_BYTES) {
    throw invalid(`tar entry path ${JSON.stringify(path.slice(0, 120))} is not allowed: expected ${TAR_PATH_PATTERN.source}, at most ${MAX_NAME_BYTES} bytes`, { path: path.slice(0, 120) });
  }
}

function putAscii(block: Uint8Array, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) block[offset + i] = text.charCodeAt(i);
}

/** The one header this format writes for a regular file of `size` bytes at `path`. */
export function ustarHeader(path: string, size: number): Uint8Array {
  assertPath(path);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_ENTRY_SIZE) throw invalid(`tar entry ${path}: size ${size} out of range`, { path });
  const h = new Uint8Array(BLOCK);
  putAscii(h, 0, path);
  putAscii(h, 100, '0000644\0');
  putAscii(h, 108, '0000000\0');
  putAscii(h, 116, '0000000\0');
  putAscii(h, 124, `${size.toString(8).padStart(11, '0')}\0`);
  putAscii(h, 136, '00000000000\0');
  putAscii(h, 148, '        ');
  putAscii(h, 156, '0');
  putAscii(h, 257, 'ustar\0');
  putAscii(h, 263, '00');
  putAscii(h, 329, '0000000\0');
  putAscii(h, 337, '0000000\0');
  let sum = 0;
  for (const b of h) sum += b;
  putAscii(h, 148, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** Writes the entries in the order given (callers order them) as a ustar archive. */
export function writeUstar(entries: readonly TarEntry[]): Uint8Array {
  const seen = new Set<string>();
  let total = 2 * BLOCK;
  for (const e of entries) {
    if (seen.has(e.path)) throw invalid(`duplicate tar entry ${e.path}`, { path: e.path });
    seen.add(e.path);
    total += BLOCK + Math.ceil(e.data.length / BLOCK) * BLOCK;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const e of entries) {
    out.set(ustarHeader(e.path, e.data.length), at);
    at += BLOCK;
    out.set(e.data, at);
    at += Math.ceil(e.data.length / BLOCK) * BLOCK;
  }
  return out;
}

const isZero = (bytes: Uint8Array, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
};

function readName(h: Uint8Array, at: number): string {
  let end = at;
  while (end < at + MAX_NAME_BYTES && h[end] !== 0) end++;
  let name = '';
  for (let i = at; i < end; i++) name += String.fromCharCode(h[i]);
  return name;
}

function readSize(h: Uint8Array, at: number, path: string): number {
  let text = '';
  for (let i = at + 124; i < at + 135; i++) text += String.fromCharCode(h[i]);
  if (!/^[0-7]{11}$/.test(text) || h[at + 135] !== 0) throw invalid(`tar entry ${JSON.stringify(path)}: size field is not 11 octal digits and NUL`, { path, field: 'size' });
  return parseInt(text, 8);
}

/**
 * Reads a ustar archive written by {@link writeUstar}; refuses every deviation.
 * `maxEntries` bounds the number of entries; the caller bounds the total size. Entry data are
 * copies, unless `views: true`: then they are views into `bytes` (no copy; for callers that only
 * read them before returning, as `decodePack` does).
 */
export function readUstar(bytes: Uint8Array, o: { maxEntries: number; views?: boolean }): TarEntry[] {
  if (bytes.length < 2 * BLOCK || bytes.length % BLOCK !== 0) {
    throw invalid(`archive length ${bytes.length} is not a positive multiple of ${BLOCK} bytes with an end-of-archive marker`, { field: 'length' });
  }
  const entries: TarEntry[] = [];
  const seen = new Set<string>();
  let at = 0;
  for (;;) {
    if (at + BLOCK > bytes.length) throw invalid('archive ends without the two zero blocks of the end-of-archive marker', { field: 'end' });
    if (isZero(bytes, at, at + BLOCK)) {
      if (at + 2 * BLOCK !== bytes.length || !isZero(bytes, at + BLOCK, at + 2 * BLOCK)) {
        throw invalid(`archive has data after the end-of-archive marker at offset ${at}, or only one zero block`, { field: 'end', offset: at });
      }
      return entries;
    }
    if (entries.length >= o.maxEntries) throw invalid(`archive has more than ${o.maxEntries} entries`, { field: 'entries' });
    const path = readName(bytes, at);
    const size = readSize(bytes, at, path);
    let expected: Uint8Array;
    try {
      expected = ustarHeader(path, size);
    } catch (e) {
      throw invalid(`tar entry at offset ${at}: ${(e as Error).message}`, { offset: at, field: 'name' }, );
    }
    const header = bytes.subarray(at, at + BLOCK);
    for (const [field, off, len] of [...FIELDS.filter(([f]) => f !== 'chksum'), ...FIELDS.filter(([f]) => f === 'chksum')]) {
      for (let i = off; i < off + len; i++) {
        if (header[i] !== expected[i]) {
          throw invalid(`tar entry ${path}: header field '${field}' differs from the koa-pack canonical header (only regular files, mode 0644, uid/gid 0, mtime 0, no names/links/prefix are allowed)`, { path, field, offset: at });
        }
      }
    }
    if (seen.has(path)) throw invalid(`duplicate tar entry ${path}`, { path });
    seen.add(path);
    const dataAt = at + BLOCK;
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (dataAt + padded > bytes.length) throw invalid(`tar entry ${path}: size ${size} runs past the end of the archive`, { path, field: 'size' });
    if (!isZero(bytes, dataAt + size, dataAt + padded)) throw invalid(`tar entry ${path}: padding after the data is not zero`, { path, field: 'padding' });
    entries.push({ path, data: o.views ? bytes.subarray(dataAt, dataAt + size) : bytes.slice(dataAt, dataAt + size) });
    at = dataAt + padded;
  }
}
