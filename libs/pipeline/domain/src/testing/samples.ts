// Test support (not exported from the lib): loads a samples/ directory as pipeline inputs.
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { sha256Digest } from '@koa/contracts';
import type { PipelineInput } from '../types';

/** The repository's samples/ directory. */
export const SAMPLES_DIR = resolve(__dirname, '../../../../../samples');

/** Extension ⇒ media type: the convention documented in samples/README.md. */
export const MEDIA_BY_EXTENSION: Readonly<Record<string, string>> = {
  '.json': 'application/json',
  '.ndjson': 'application/x-ndjson',
  '.md': 'text/markdown',
  '.txt': 'text/plain',
};

export interface SampleInput extends PipelineInput {
  readonly name: string;
}

/** Every file of `samples/<set>` with a known extension, in directory-listing (name) order. */
export function loadSampleSet(set: string, dir = SAMPLES_DIR): SampleInput[] {
  const base = join(dir, set);
  return readdirSync(base)
    .filter((f) => MEDIA_BY_EXTENSION[extname(f)] !== undefined)
    .sort()
    .map((name) => {
      const bytes = new Uint8Array(readFileSync(join(base, name)));
      return { name, bytes, digest: sha256Digest(bytes), mediaType: MEDIA_BY_EXTENSION[extname(name)] };
    });
}

/** A stand-in snapshot-set root for tests: sha256 of the sorted digests joined by LF. */
export const testSetRoot = (inputs: readonly PipelineInput[]): string => sha256Digest(inputs.map((i) => i.digest).sort().join('\n'));

export const TEST_BUILDER = { id: 'https://koa.dev/builders/pipeline-worker', version: '0.0.0-test' } as const;
