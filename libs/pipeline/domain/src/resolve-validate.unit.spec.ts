import { KoaRefusal, sha256Digest } from '@koa/contracts';
import { resolveRecords, type ResolvedEntity } from './resolve';
import { RULES, evidenceSummary, normaliseConfig, validateEntities } from './validate';
import type { ExtractedRecord } from './types';

const A = sha256Digest('a');
const B = sha256Digest('b');
const rec = (id: string, source: string, over: Partial<ExtractedRecord> = {}): ExtractedRecord => ({
  id, type: 'equipment', title: `T ${id}`, text: 'text', attributes: { x: 1, y: 'z' }, source, location: 'record', ...over,
});

describe('resolve', () => {
  it('identical records across inputs ⇒ one entity with both sources (attribute order irrelevant)', () => {
    const out = resolveRecords([rec('e1', B), rec('e2', A), rec('e1', A, { attributes: { y: 'z', x: 1 }, location: 'line 4' })]);
    expect(out.map((e) => [e.id, e.sources])).toEqual([['e1', [A, B].sort()], ['e2', [A]]]);
  });
  it('conflicting content ⇒ RESOLVE_CONFLICT naming the id and both digests', () => {
    try {
      resolveRecords([rec('e1', A), rec('e1', B, { text: 'other' })]);
      throw new Error('expected a refusal');
    } catch (e) {
      expect(e).toBeInstanceOf(KoaRefusal);
      expect((e as KoaRefusal).code).toBe('RESOLVE_CONFLICT');
      expect((e as KoaRefusal).details).toMatchObject({ id: 'e1', digests: [A, B] });
      expect((e as KoaRefusal).message).toContain(A);
      expect((e as KoaRefusal).message).toContain(B);
    }
  });
  it('a whitespace or case difference is a conflict (no silent normalisation)', () => {
    expect(() => resolveRecords([rec('e1', A), rec('e1', B, { title: 't e1' })])).toThrow(expect.objectContaining({ code: 'RESOLVE_CONFLICT' }));
  });
});

const ent = (id: string, over: Partial<ResolvedEntity> = {}): ResolvedEntity => ({ id, type: 'equipment', title: 'T', text: 'x', attributes: {}, sources: [A], ...over });

describe('validate', () => {
  const config = normaliseConfig();
  const entityRules = RULES.filter((r) => r.scope === 'entity').map((r) => r.name);

  it('evaluates every entity rule on every entity, then the pack rules', () => {
    const report = validateEntities([ent('a'), ent('b')], config);
    expect(report.passed).toBe(true);
    expect(report.results.map((r) => `${r.subject ?? '*'}:${r.rule}`)).toEqual([
      ...entityRules.map((r) => `a:${r}`),
      ...entityRules.map((r) => `b:${r}`),
      '*:no-empty-pack',
    ]);
    expect(report.counts).toEqual({ entities: 2, results: 2 * entityRules.length + 1, failed: 0 });
  });

  it.each([
    ['id-format', 'ID_FORMAT_INVALID', ent('a b')],
    ['type-known', 'TYPE_UNKNOWN', ent('a', { type: 'rumour' })],
    ['title-present', 'TITLE_MISSING', ent('a', { title: '  ' })],
    ['text-or-attributes-present', 'CONTENT_MISSING', ent('a', { text: ' \n', attributes: {} })],
    ['attributes-valid', 'ATTRIBUTES_INVALID', ent('a', { attributes: { 'bad key': 1 } })],
    ['size-bounds', 'SIZE_EXCEEDED', ent('a', { title: 'x'.repeat(1025) })],
  ])('rule %s fails with evidence code %s, and only that rule fails', (rule, code, e) => {
    const report = validateEntities([e], config);
    expect(report.passed).toBe(false);
    const failed = report.results.filter((r) => !r.passed);
    expect(failed).toEqual([expect.objectContaining({ rule, code, subject: e.id, passed: false })]);
    expect(failed[0].message).toBeTruthy();
  });

  it('no-empty-pack fails on zero entities', () => {
    const report = validateEntities([], config);
    expect(report.results).toEqual([{ rule: 'no-empty-pack', passed: false, code: 'PACK_EMPTY', message: 'no entity was extracted from the inputs' }]);
  });

  it('per-tenant allowlist is data, normalised (sorted, unique) and recorded', () => {
    const c = normaliseConfig({ knownTypes: ['rumour', 'equipment', 'rumour'] });
    const report = validateEntities([ent('a', { type: 'rumour' })], c);
    expect(report.passed).toBe(true);
    expect(report.config.knownTypes).toEqual(['equipment', 'rumour']);
  });

  it('the summary puts failures first, caps results and counts the rest', () => {
    const report = validateEntities([ent('a'), ent('b', { title: '' }), ent('c')], config);
    const s = evidenceSummary(report, 3);
    expect(s.results[0]).toMatchObject({ subject: 'b', rule: 'title-present', passed: false });
    expect(s.results).toHaveLength(3);
    expect(s.truncated).toBe(report.results.length - 3);
    expect(s.passed).toBe(false);
  });

  it('the summary also respects a byte budget (events have a size limit)', () => {
    const many = Array.from({ length: 50 }, (_, i) => ent(`e${String(i).padStart(2, '0')}`, { title: '' }));
    const report = validateEntities(many, config);
    const s = evidenceSummary(report, 2000, 2000);
    expect(s.results.length).toBeGreaterThan(0);
    expect(s.results.every((r) => !r.passed)).toBe(true);
    expect(JSON.stringify(s.results).length).toBeLessThanOrEqual(2000);
    expect(s.results.length + s.truncated).toBe(report.results.length);
  });
});
