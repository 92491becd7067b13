import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { KoaRefusal } from '@koa/contracts';
import type { CryptoKey } from 'jose';
import type { PublicEd25519Jwk } from '@koa/release/verify';
import { Ed25519KeySigner, generatePrivateJwk, importPrivate } from './signer';

/** Refuse private key files readable or writable by group/others (like ssh). */
const OPEN_BITS = 0o077;

/**
 * A signer whose Ed25519 private key lives in a local JWK file — for development and tests.
 * Production uses an HSM behind the same `Signer` port (PKCS#11; roadmap).
 *
 * - `openOrCreate(file)` creates the file if absent (mode 0600, parent directories 0700,
 *   written to a temp file, fsynced, then hard-linked into place so two processes racing to
 *   create it end up with the same key) and otherwise opens it.
 * - An existing file must be mode 0600 or stricter, a valid private Ed25519 JWK whose `x`
 *   matches `d`, and (when `o.kid` is given) have that key id; else CONFIG_INVALID.
 * - `kid` is always the RFC 7638 thumbprint of the public key.
 * - The private key is imported non-extractable and never leaves the object.
 */
export class LocalKeyFileSigner extends Ed25519KeySigner {
  private constructor(
    kid: string,
    key: CryptoKey,
    publicJwk: PublicEd25519Jwk,
    /** the key file path (not secret) */
    readonly file: string,
  ) {
    super(kid, key, publicJwk);
  }

  static async openOrCreate(file: string, o: { kid?: string } = {}): Promise<LocalKeyFileSigner> {
    let text: string;
    try {
      text = await readPrivateFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (o.kid !== undefined) throw new KoaRefusal('CONFIG_INVALID', `key file ${file} does not exist, and kid ${o.kid} was expected`, { file });
      await createKeyFile(file);
      text = await readPrivateFile(file);
    }
    let jwk: unknown;
    try {
      jwk = JSON.parse(text);
    } catch (cause) {
      throw new KoaRefusal('CONFIG_INVALID', `key file ${file} is not JSON`, { file }, { cause });
    }
    const { kid, key, publicJwk } = await importPrivate(jwk, { kid: o.kid, what: `key file ${file}` });
    return new LocalKeyFileSigner(kid, key, publicJwk, file);
  }
}

async function readPrivateFile(file: string): Promise<string> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw e;
    const why = code === 'ELOOP' ? 'is a symbolic link (refused)' : `cannot be opened (${code ?? 'error'})`;
    throw new KoaRefusal('CONFIG_INVALID', `key file ${file} ${why}`, { file }, { cause: e });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new KoaRefusal('CONFIG_INVALID', `key file ${file} is not a regular file`, { file });
    if ((stat.mode & OPEN_BITS) !== 0) {
      throw new KoaRefusal('CONFIG_INVALID', `key file ${file} has mode ${(stat.mode & 0o777).toString(8)}: a private key file must be 0600 or stricter`, { file });
    }
    if (stat.size > 4096) throw new KoaRefusal('CONFIG_INVALID', `key file ${file} is larger than 4 KiB`, { file });
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

async function createKeyFile(file: string): Promise<void> {
  const dir = dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const jwk = await generatePrivateJwk();
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const handle = await fs.open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(jwk)}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.link(tmp, file); // fails with EEXIST if another process won the race: keep theirs
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    await fs.unlink(tmp);
  }
  await fsyncDir(dir);
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
