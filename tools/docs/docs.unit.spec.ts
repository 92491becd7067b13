import { readFileSync } from 'node:fs';
import { relative, join } from 'node:path';
import { EVENT_CATALOG, parseEvent, REFUSALS, STREAMS } from '@koa/contracts';
import { fieldRows, refusalGroups, renderEvents, renderRefusalCodes } from './build';
import { generatedDocs, REFUSALS_SOURCE_PATH } from './generate';

const ROOT = join(__dirname, '..', '..');

describe('generated docs', () => {
  it.each(Object.entries(generatedDocs()).map(([path, text]) => [relative(ROOT, path), path, text]))(
    '%s is up to date with libs/contracts (run `npm run docs` if this fails)',
    (name, path, expected) => {
      let committed: string;
      try {
        committed = readFileSync(path, 'utf8');
      } catch {
        throw new Error(`${name} is missing: run npm run docs`);
      }
      if (committed !== expected) throw new Error(`${name} is stale: run npm run docs and commit the result`);
    },
  );

  it('lists every refusal code exactly once, in catalog groups', () => {
    const source = readFileSync(REFUSALS_SOURCE_PATH, 'utf8');
    const groups = refusalGroups(source);
    const codes = groups.flatMap((g) => g.codes);
    expect([...codes].sort()).toEqual(Object.keys(REFUSALS).sort());
    expect(groups.map((g) => g.title)).toContain('envelope and schema');
    const page = renderRefusalCodes(source);
    for (const [code, r] of Object.entries(REFUSALS)) expect(page).toContain(`| \`${code}\` | ${r.http} | ${r.retryable ? 'yes' : 'no'} |`);
  });

  it('documents every catalog type with its producer and every top-level data field', () => {
    const page = renderEvents();
    for (const def of EVENT_CATALOG) {
      expect(page).toContain(`## ${def.type}\n`);
      expect(page).toContain(`- producer: \`${def.producer}\``);
      const shape = (def.data as unknown as { shape?: Record<string, unknown> }).shape ?? {};
      for (const field of Object.keys(shape)) expect(page).toContain(`| \`${field}\` |`);
    }
  });

  it('flattens nested objects, arrays of objects and discriminated unions', () => {
    const rows = fieldRows({
      type: 'object',
      required: ['a'],
      properties: {
        a: { type: 'object', required: ['b'], properties: { b: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } } },
        list: { type: 'array', items: { type: 'object', properties: { x: { type: 'integer', minimum: 0 } } } },
        u: { anyOf: [{ type: 'object', properties: { kind: { const: 'k1' }, y: { type: 'boolean' } } }] },
      },
    });
    expect(rows.map((r) => r.field)).toEqual(['a', 'a.b', 'list', 'list[].x', 'u', 'u(kind=k1).kind', 'u(kind=k1).y']);
    expect(rows[1]).toEqual({ field: 'a.b', type: 'string', required: true, constraints: 'token `[A-Za-z0-9_-]{1,64}`' });
    expect(rows[3].constraints).toBe('≥ 0');
  });

  it('every json example in docs/envelope.md is a valid event', () => {
    const page = readFileSync(join(ROOT, 'docs', 'envelope.md'), 'utf8');
    const blocks = [...page.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const block of blocks) expect(() => parseEvent(block)).not.toThrow();
  });

  it('the prose of docs/subjects-and-streams.md agrees with STREAMS', () => {
    const page = readFileSync(join(ROOT, 'docs', 'subjects-and-streams.md'), 'utf8');
    expect(page).toContain(`keeps the last ${STREAMS.releases.maxMsgsPerSubject} notices per channel`);
    expect(page).toContain(`kept ${STREAMS.ingest.maxAgeMs / 86_400_000} days`);
    expect(page).toContain(`Duplicate window (${STREAMS.events.duplicateWindowMs / 60_000} minutes on every stream)`);
    for (const s of Object.values(STREAMS)) expect(s.duplicateWindowMs).toBe(STREAMS.events.duplicateWindowMs);
    expect(page).toContain(`(${STREAMS.releases.maxMsgSize / 1024} KiB max)`);
    expect(page).toContain(`(${STREAMS.deadLetters.maxMsgSize / (1024 * 1024)} MiB max)`);
  });
});
