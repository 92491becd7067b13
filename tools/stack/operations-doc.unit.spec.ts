/** docs/operations.md names every configuration variable every service reads. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { INGEST_CONFIG_SCHEMA } from '@koa/ingest/feature';
import { LEDGER_CONFIG_SCHEMA } from '@koa/ledger/feature';
import { ORGO_CONFIG_SCHEMA } from '@koa/orgo/feature';
import { PIPELINE_CONFIG_SCHEMA } from '@koa/pipeline/feature';
import { RELEASE_CONFIG_SCHEMA } from '@koa/release/feature';
import { REPO_ROOT } from './stack';


const schemas: Record<string, z.ZodObject> = {
  'ingest-gateway': INGEST_CONFIG_SCHEMA,
  'orgo-control': ORGO_CONFIG_SCHEMA,
  'pipeline-worker': PIPELINE_CONFIG_SCHEMA,
  'konnaxion-release': RELEASE_CONFIG_SCHEMA,
  'audit-ledger': LEDGER_CONFIG_SCHEMA,
};

it.each(Object.keys(schemas))('docs/operations.md documents every variable of %s', (service) => {
  const doc = readFileSync(join(REPO_ROOT, 'docs/operations.md'), 'utf8');
  const missing = Object.keys(schemas[service].shape).filter((v) => !doc.includes(`\`${v}\``));
  expect(missing).toEqual([]);
});
