/** Writes the golden fixtures: node -r @swc-node/register libs/release/signing/scripts/generate-fixtures.ts */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURE_DIR } from '@koa/release/verify/testing';
import { buildGoldenFixtures } from './golden-fixtures';

async function main(): Promise<void> {
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const files = await buildGoldenFixtures();
  for (const [name, content] of files) writeFileSync(join(FIXTURE_DIR, name), content);
  process.stdout.write(`wrote ${files.size} files to ${FIXTURE_DIR}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
