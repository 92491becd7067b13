/**
 * `npm run asyncapi`: writes docs/asyncapi.yaml from the contracts library.
 * The up-to-date test (asyncapi.unit.spec.ts) fails until this has been run after a contract change.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderAsyncApi } from './build';

export const ASYNCAPI_PATH = join(__dirname, '..', '..', 'docs', 'asyncapi.yaml');

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

if (require.main === module) {
  mkdirSync(dirname(ASYNCAPI_PATH), { recursive: true });
  writeFileSync(ASYNCAPI_PATH, renderAsyncApi(packageVersion()));
  process.stdout.write(`wrote ${ASYNCAPI_PATH}\n`);
}
