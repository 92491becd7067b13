import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { sha256Digest } from '@koa/contracts';
import { decodePack, readUstar } from '@koa/pack-format';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '../../../..');
const SCRIPT = join(__dirname, 'testing', 'compile-samples.ts');

/**
 * The determinism invariant (ARCHITECTURE.md §2): the same snapshot set compiled in two separate
 * processes, with inputs arriving in different orders and different time zone / locale settings,
 * gives byte-identical packs.
 */
describe('determinism across processes', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'koa-determinism-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const child = (seed: number, env: Record<string, string>, out: string) =>
    run(process.execPath, ['-r', '@swc-node/register', SCRIPT, 'good', String(seed), out], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      // two compiling children at once on a loaded 2-core machine: generous, below the 120 s test timeout
      timeout: 100_000,
    }).then(({ stdout }) => JSON.parse(stdout.trim()) as { order: string[]; digest: string; manifestDigest: string; provenanceDigest: string; tz: string; lang: string });

  it('two children, shuffled inputs, different TZ/LANG ⇒ identical pack bytes and digests', async () => {
    const outA = join(dir, 'a.tar');
    const outB = join(dir, 'b.tar');
    const [a, b] = await Promise.all([
      child(1, { TZ: 'Pacific/Kiritimati', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8' }, outA),
      child(7, { TZ: 'America/St_Johns', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' }, outB),
    ]);
    // the children really saw different orders and environments
    expect(a.order).not.toEqual(b.order);
    expect([...a.order].sort()).toEqual([...b.order].sort());
    expect(a.tz).not.toBe(b.tz);
    expect(a.lang).not.toBe(b.lang);

    expect(a.digest).toBe(b.digest);
    expect(a.manifestDigest).toBe(b.manifestDigest);
    expect(a.provenanceDigest).toBe(b.provenanceDigest);
    const bytesA = new Uint8Array(readFileSync(outA));
    const bytesB = new Uint8Array(readFileSync(outB));
    expect(Buffer.compare(bytesA, bytesB)).toBe(0);
    expect(sha256Digest(bytesA)).toBe(a.digest);

    // the bytes decode, and every part hashes to what the manifest says
    const pack = decodePack(bytesA);
    expect(pack.digest).toBe(a.digest);
    expect(pack.manifestDigest).toBe(a.manifestDigest);
    expect(pack.manifest.counts.entities).toBe(21);
    const entries = readUstar(bytesA, { maxEntries: 8 });
    expect(entries.map((e) => e.path)).toEqual(['manifest.json', ...pack.manifest.parts.map((p) => p.path)]);
    for (const p of pack.manifest.parts) {
      const entry = entries.find((e) => e.path === p.path);
      expect(entry && sha256Digest(entry.data)).toBe(p.digest);
      expect(entry?.data.length).toBe(p.size);
    }
    expect(pack.search('seal pump').map((e) => e.id)).toContain('proc-pump-seal');
  });
});
