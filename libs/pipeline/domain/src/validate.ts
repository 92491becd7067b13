import { TOKEN_PATTERN, canonicalDigest, canonicalJson, type Digest } from '@koa/contracts';
import { ATTRIBUTE_KEY_PATTERN } from '@koa/pack-format';
import type { ResolvedEntity } from './resolve';

/** Entity types accepted when the tenant gives no list of its own (`type-known`). */
export const DEFAULT_KNOWN_TYPES: readonly string[] = ['contact', 'document', 'equipment', 'faq', 'part', 'procedure', 'site'];

/** Per-tenant validation settings, passed in as data (and recorded in the evidence and provenance). */
export interface ValidationConfig {
  /** allowlist for `type-known`; sorted and de-duplicated before use */
  readonly knownTypes: readonly string[];
}

/** One rule evaluation (the `RuleResult` of the `ValidationRecorded` contract). */
export interface RuleResultData {
  rule: string;
  passed: boolean;
  /** evidence code of a failure (not a refusal code): e.g. TITLE_MISSING */
  code?: string;
  /** names the offending field and value */
  message?: string;
  /** the entity id the result is about; absent for pack-wide rules */
  subject?: string;
}

/**
 * The validation report, every result (what the `ValidationRecorded` event's summary lists). The
 * pack's `evidence.json` and `evidenceDigest` are its {@link evidenceDocument}.
 */
export interface EvidenceReport {
  format: 'koa-evidence/1';
  passed: boolean;
  config: { knownTypes: string[] };
  rules: string[];
  counts: { entities: number; results: number; failed: number };
  /** entity rules for every entity (entities by id, rules in {@link RULES} order), then pack rules; materialised on first read */
  readonly results: RuleResultData[];
}

interface EntityRule {
  readonly name: string;
  readonly scope: 'entity';
  readonly code: string;
  readonly description: string;
  check(e: ResolvedEntity, c: ValidationConfig): string | undefined;
}
interface PackRule {
  readonly name: string;
  readonly scope: 'pack';
  readonly code: string;
  readonly description: string;
  check(entities: readonly ResolvedEntity[], c: ValidationConfig): string | undefined;
}
export type Rule = EntityRule | PackRule;

const show = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/**
 * The rules, in evaluation order (docs/pipeline.md §4). `check` returns undefined when the rule
 * passes, or a message naming the offending field and value.
 */
export const RULES: readonly Rule[] = [
  {
    name: 'id-format',
    scope: 'entity',
    code: 'ID_FORMAT_INVALID',
    description: 'The id is 1–64 characters of [A-Za-z0-9_-] (safe as a subject token and an object name).',
    check: (e) => (TOKEN_PATTERN.test(e.id) ? undefined : `id ${show(e.id)} must match ${TOKEN_PATTERN.source}`),
  },
  {
    name: 'type-known',
    scope: 'entity',
    code: 'TYPE_UNKNOWN',
    description: "The type is in the tenant's allowlist of entity types.",
    check: (e, c) => (c.knownTypes.includes(e.type) ? undefined : `type ${show(e.type)} is not one of ${c.knownTypes.join(', ')}`),
  },
  {
    name: 'title-present',
    scope: 'entity',
    code: 'TITLE_MISSING',
    description: 'The title has at least one non-whitespace character.',
    check: (e) => (e.title.trim() !== '' ? undefined : 'title is empty'),
  },
  {
    name: 'text-or-attributes-present',
    scope: 'entity',
    code: 'CONTENT_MISSING',
    description: 'The entity has non-blank text or at least one attribute.',
    check: (e) => (e.text.trim() !== '' || Object.keys(e.attributes).length > 0 ? undefined : 'text is empty and there are no attributes'),
  },
  {
    name: 'attributes-valid',
    scope: 'entity',
    code: 'ATTRIBUTES_INVALID',
    description: 'At most 128 attributes; keys match [A-Za-z][A-Za-z0-9_.-]{0,63}; string values at most 4096 characters.',
    check: (e) => {
      const keys = Object.keys(e.attributes);
      if (keys.length > 128) return `${keys.length} attributes, at most 128 allowed`;
      const badKey = keys.find((k) => !ATTRIBUTE_KEY_PATTERN.test(k));
      if (badKey !== undefined) return `attribute key ${show(badKey)} must match ${ATTRIBUTE_KEY_PATTERN.source}`;
      const long = keys.find((k) => typeof e.attributes[k] === 'string' && (e.attributes[k] as string).length > 4096);
      return long === undefined ? undefined : `attribute ${show(long)} is longer than 4096 characters`;
    },
  },
  {
    name: 'size-bounds',
    scope: 'entity',
    code: 'SIZE_EXCEEDED',
    description: 'The title is at most 1024 characters and the text at most 1,048,576 characters.',
    check: (e) =>
      e.title.length > 1024 ? `title is ${e.title.length} characters, at most 1024` : e.text.length > 1_048_576 ? `text is ${e.text.length} characters, at most 1048576` : undefined,
  },
  {
    name: 'no-empty-pack',
    scope: 'pack',
    code: 'PACK_EMPTY',
    description: 'The pack has at least one entity.',
    check: (entities) => (entities.length > 0 ? undefined : 'no entity was extracted from the inputs'),
  },
];

/** Sorted, de-duplicated allowlist (so the evidence does not depend on the order it was given in). */
export const normaliseConfig = (c: Partial<ValidationConfig> = {}): ValidationConfig => ({
  knownTypes: [...new Set(c.knownTypes ?? DEFAULT_KNOWN_TYPES)].sort(),
});

/**
 * What a report is made of: every failure (in report order) and the entity ids, so that the
 * passes — the vast majority — are counted, and listed as result objects only when `results` is
 * read (the evidence document and the event summary never list them all).
 */
interface ReportFacts {
  readonly subjects: readonly string[];
  readonly entityRules: readonly Rule[];
  readonly packRules: readonly Rule[];
  /** report position ⇒ failed result; position = entity index × entityRules + rule index, then pack rules */
  readonly failures: ReadonlyMap<number, RuleResultData>;
  readonly total: number;
}
const factsOf = new WeakMap<EvidenceReport, ReportFacts>();

// members in canonical (code-unit) order — code, message, passed, rule, subject
const passResult = (rule: string, subject: string | undefined): RuleResultData => (subject === undefined ? { passed: true, rule } : { passed: true, rule, subject });

/** The result at report position `at` (see {@link ReportFacts}). */
function resultAt(f: ReportFacts, at: number): RuleResultData {
  const failed = f.failures.get(at);
  if (failed) return failed;
  const perEntity = f.entityRules.length;
  const entityPart = f.subjects.length * perEntity;
  return at < entityPart ? passResult(f.entityRules[at % perEntity].name, f.subjects[Math.floor(at / perEntity)]) : passResult(f.packRules[at - entityPart].name, undefined);
}

/**
 * Stage 3 — validate: evaluates EVERY rule on EVERY entity (and each pack rule once) and returns
 * the evidence report. It never throws for a rule failure: the caller decides (the pipeline stops
 * with VALIDATION_FAILED when `passed` is false, and compiles nothing).
 *
 * `results` (one per entity × entity rule in entity-id then rule order, then one per pack rule)
 * is materialised when first read; the evidence document and the summary do not read it.
 */
export function validateEntities(entities: readonly ResolvedEntity[], config: ValidationConfig): EvidenceReport {
  const entityRules = RULES.filter((r) => r.scope === 'entity');
  const packRules = RULES.filter((r) => r.scope === 'pack');
  const failures = new Map<number, RuleResultData>();
  const subjects = new Array<string>(entities.length);
  const fail = (at: number, rule: Rule, message: string, subject?: string): void => {
    const r: RuleResultData = { code: rule.code, message: message.slice(0, 1024), passed: false, rule: rule.name };
    if (subject !== undefined) r.subject = subject;
    failures.set(at, r);
  };
  let at = 0;
  for (let i = 0; i < entities.length; i++) {
    const e = entities[i];
    const subject = e.id.slice(0, 256);
    subjects[i] = subject;
    for (const rule of entityRules) {
      const message = (rule as EntityRule).check(e, config);
      if (message !== undefined) fail(at, rule, message, subject);
      at++;
    }
  }
  for (const rule of packRules) {
    const message = (rule as PackRule).check(entities, config);
    if (message !== undefined) fail(at, rule, message);
    at++;
  }
  const facts: ReportFacts = { subjects, entityRules, packRules, failures, total: at };
  let results: RuleResultData[] | undefined;
  const report = {
    config: { knownTypes: [...config.knownTypes] },
    counts: { entities: entities.length, failed: failures.size, results: at },
    format: 'koa-evidence/1',
    passed: failures.size === 0,
    rules: RULES.map((r) => r.name),
  } as EvidenceReport;
  Object.defineProperty(report, 'results', {
    enumerable: true,
    get: () => (results ??= Array.from({ length: facts.total }, (_, k) => resultAt(facts, k))),
  });
  factsOf.set(report, facts);
  return report;
}

/** One rule in the {@link EvidenceDocument}: how often it passed, and every failure in full. */
export interface RuleEvidence {
  failed: number;
  /** in report order (entities by id); `subject` absent for pack rules */
  failures: Array<{ code: string; message: string; subject?: string }>;
  passed: number;
  rule: string;
  scope: 'entity' | 'pack';
}

/**
 * `koa-evidence/2`, the evidence document: what the pack's `evidence.json` holds and what
 * `evidenceDigest` hashes (docs/pipeline.md §5). The same facts as the report, grouped per rule:
 * an entity rule is evaluated on every entity, so its passes are "every entity not listed as a
 * failure" (a compiled pack has none) and are counted, not listed one object per entity × rule.
 * Members are created in canonical order, so its canonical JSON needs no key sort.
 */
export interface EvidenceDocument {
  config: { knownTypes: string[] };
  counts: { entities: number; failed: number; results: number };
  format: 'koa-evidence/2';
  passed: boolean;
  rules: RuleEvidence[];
}

/** The {@link EvidenceDocument} of a report (pure; rules in {@link RULES} order). */
export function evidenceDocument(report: EvidenceReport): EvidenceDocument {
  const byRule = new Map<string, RuleEvidence>();
  const rules = RULES.map((r) => {
    const e: RuleEvidence = { failed: 0, failures: [], passed: 0, rule: r.name, scope: r.scope };
    byRule.set(r.name, e);
    return e;
  });
  const ruleOf = (name: string): RuleEvidence => {
    const e = byRule.get(name);
    if (e === undefined) throw new TypeError(`evidenceDocument: unknown rule ${name}`);
    return e;
  };
  const addFailure = (r: RuleResultData): void => {
    const e = ruleOf(r.rule);
    e.failed++;
    const f: RuleEvidence['failures'][number] = { code: r.code ?? '', message: r.message ?? '' };
    if (r.subject !== undefined) f.subject = r.subject;
    e.failures.push(f);
  };
  const facts = factsOf.get(report);
  if (facts) {
    // from the facts: failures in report order; every other evaluation passed
    for (const at of [...facts.failures.keys()].sort((x, y) => x - y)) addFailure(facts.failures.get(at) as RuleResultData);
    for (const r of facts.entityRules) ruleOf(r.name).passed = facts.subjects.length - ruleOf(r.name).failed;
    for (const r of facts.packRules) ruleOf(r.name).passed = 1 - ruleOf(r.name).failed;
  } else {
    for (const r of report.results) {
      if (r.passed) ruleOf(r.rule).passed++;
      else addFailure(r);
    }
  }
  return {
    config: { knownTypes: [...report.config.knownTypes] },
    counts: { entities: report.counts.entities, failed: report.counts.failed, results: report.counts.results },
    format: 'koa-evidence/2',
    passed: report.passed,
    rules,
  };
}

/** `canonicalDigest` of the report's {@link evidenceDocument}: equals the digest of the pack's `evidence.json` part. */
export const evidenceDigestOf = (report: EvidenceReport): Digest => canonicalDigest(evidenceDocument(report));

/** Default byte budget of the results carried by one `ValidationRecorded` event (KOA_EVENTS allows 1 MiB per message). */
export const EVIDENCE_SUMMARY_MAX_BYTES = 256 * 1024;

/**
 * What goes into the `ValidationRecorded` event: failures first (in report order), then passes,
 * at most `cap` results and at most `maxBytes` of canonical JSON; `truncated` counts the rest.
 * The full report is covered by the digest.
 */
export function evidenceSummary(
  report: EvidenceReport,
  cap = 2000,
  maxBytes = EVIDENCE_SUMMARY_MAX_BYTES,
): { passed: boolean; evidenceDigest: Digest; results: RuleResultData[]; truncated: number } {
  const facts = factsOf.get(report);
  // failures first, then passes, each in report order — generated lazily: at most `cap` are needed
  function* ordered(): Generator<RuleResultData> {
    if (!facts) {
      for (const r of report.results) if (!r.passed) yield r;
      for (const r of report.results) if (r.passed) yield r;
      return;
    }
    const failedAt = [...facts.failures.keys()].sort((x, y) => x - y);
    for (const at of failedAt) yield facts.failures.get(at) as RuleResultData;
    for (let at = 0; at < facts.total; at++) if (!facts.failures.has(at)) yield resultAt(facts, at);
  }
  const total = facts ? facts.total : report.results.length;
  const utf8 = new TextEncoder();
  const results: RuleResultData[] = [];
  let bytes = 0;
  for (const r of ordered()) {
    if (results.length >= cap) break;
    bytes += utf8.encode(canonicalJson(r)).length + 1;
    if (bytes > maxBytes) break;
    results.push(r);
  }
  return { passed: report.passed, evidenceDigest: evidenceDigestOf(report), results, truncated: total - results.length };
}
