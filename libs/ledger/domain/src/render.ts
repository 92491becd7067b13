import type { BuildView, CaseStory, ConsumerView, ReleaseStory, SnapshotView, TriggerView, VerificationView, ActivationView } from './what-happened';

/**
 * Plain-text rendering of a story for people (the CLI). Deterministic: the same story renders
 * to the same text. No colours, no terminal control characters; values from events are printed
 * through JSON escaping when they could contain line breaks.
 */

const q = (v: unknown): string => (typeof v === 'string' && /^[\x20-\x7e]*$/.test(v) ? v : JSON.stringify(v));

function triggerLines(t: TriggerView | null): string[] {
  if (!t) return ['Trigger      (not recorded)'];
  const origin = t.origin as { via?: string; address?: string; userAgent?: string } | null;
  const where = origin ? [origin.via, origin.address, origin.userAgent].filter(Boolean).join(' ') : '?';
  return [`Trigger      ${t.kind} by ${q(t.requestedBy)} at ${t.receivedAt} via ${q(where)}`, `             why: ${q(t.reason)}`, `             idempotency key: ${q(t.idempotencyKey)}`];
}

function snapshotLines(s: readonly SnapshotView[]): string[] {
  if (!s.length) return ['Snapshots    (none named)'];
  return [
    `Snapshots    ${s.length}`,
    ...s.map((x) => {
      if (!x.recorded) return `  - ${x.digest}  (capture not recorded)`;
      const p = x.provenance as { adapter?: { name?: string; version?: string }; sourceRef?: string } | null;
      return `  - ${x.digest}  ${x.size} B ${q(x.mediaType)} from ${q(x.source)} (${q(p?.adapter?.name ?? '?')}@${q(p?.adapter?.version ?? '?')} ${q(p?.sourceRef ?? '?')}) captured ${x.capturedAt} by ${q(x.capturedBy)}`;
    }),
  ];
}

function buildLines(b: BuildView | null, label = 'Build'): string[] {
  if (!b) return [`${label.padEnd(12)} (not recorded)`];
  const lines = [`${label.padEnd(12)} ${b.buildId} ${b.status.toUpperCase()} pipeline ${q(b.pipelineVersion ?? '?')} started ${b.startedAt ?? '?'} finished ${b.finishedAt ?? '-'}`];
  for (const s of b.stages) {
    const stats = s.stats ? ' ' + Object.entries(s.stats).map(([k, v]) => `${q(k)}=${v}`).join(' ') : '';
    lines.push(`  stage ${s.stage.padEnd(9)} ${s.outcome.toUpperCase()} ${s.at}${stats}${s.code ? ` ${s.code}: ${q(s.message ?? '')}` : ''}`);
  }
  if (b.failure) lines.push(`  failed at ${b.failure.stage ?? '?'}: ${b.failure.code ?? '?'} ${q(b.failure.message ?? '')}`);
  const e = b.evidence;
  if (e) {
    lines.push(`  evidence    ${e.passed ? 'PASSED' : 'FAILED'} ${e.rulesPassed}/${e.rulesEvaluated - e.truncated} rules passed${e.truncated ? ` (+${e.truncated} not listed)` : ''}, ${e.rulesFailed} failed, digest ${e.evidenceDigest}`);
    for (const f of e.failures) lines.push(`    x ${q(f.rule)}${f.code ? ` ${f.code}` : ''}${f.subject ? ` [${q(f.subject)}]` : ''}${f.message ? `: ${q(f.message)}` : ''}`);
  } else lines.push('  evidence    (not recorded)');
  if (b.pack) lines.push(`  pack        ${b.pack.digest} ${b.pack.size ?? '?'} B, provenance ${b.pack.provenanceDigest ?? '?'}`);
  return lines;
}

function verificationLines(v: VerificationView): string[] {
  switch (v.outcome) {
    case 'verified':
      return [`Verification VERIFIED at ${v.at}: ${v.checks.map((c) => c.check).join(', ')}`];
    case 'refused':
      return [`Verification REFUSED at ${v.at}: ${v.code} ${q(v.message ?? '')}`];
    case 'not-recorded':
      return ['Verification (not recorded)'];
    default: {
      const _exhaustive: never = v.outcome;
      return [String(_exhaustive)];
    }
  }
}

function activationLines(a: ActivationView | null): string[] {
  if (!a) return ['Activation   (not activated)'];
  const prev = a.previous as { releaseId?: string; version?: number } | null;
  return [
    `Activation   v${a.version ?? '?'} on ${a.env}/${a.channel} at ${a.activatedAt ?? '?'}, signed by kid ${q(a.kid ?? '?')}, expires ${a.expiresAt ?? '?'}`,
    ...(prev ? [`             replaced ${prev.releaseId} (v${prev.version})`] : []),
  ];
}

function consumerLines(cs: readonly ConsumerView[]): string[] {
  if (!cs.length) return ['Consumers    (none reported)'];
  return [
    `Consumers    ${cs.filter((c) => c.outcome === 'activated').length} activated, ${cs.filter((c) => c.outcome === 'refused').length} refused`,
    ...cs.map((c) => `  - ${c.consumerId} ${c.outcome.toUpperCase()} at ${c.at}${c.version !== null ? ` v${c.version}` : ''}${c.code ? ` ${c.code}: ${q(c.message ?? '')}` : ''}`),
  ];
}

function gapLines(gaps: readonly string[]): string[] {
  return gaps.length ? ['Gaps', ...gaps.map((g) => `  ! ${g}`)] : [];
}

/** Renders the release story as lines of plain text (joined with "\n", trailing newline). */
export function renderReleaseStory(s: ReleaseStory): string {
  const c = s.case;
  return [
    `What happened: release ${s.releaseId} (tenant ${s.tenant}, ${s.env}/${s.channel})`,
    '',
    ...triggerLines(s.trigger),
    c ? `Case         ${c.caseId} ${c.status.toUpperCase()}${c.outcome ? ` ${c.outcome}` : ''}${c.code ? ` ${c.code}` : ''} opened ${c.openedAt ?? '?'}${c.closedAt ? ` closed ${c.closedAt}` : ''}` : 'Case         (not recorded)',
    ...snapshotLines(s.snapshots),
    ...buildLines(s.build),
    ...verificationLines(s.verification),
    ...activationLines(s.activation),
    ...consumerLines(s.consumers),
    ...gapLines(s.gaps),
  ].join('\n') + '\n';
}

/** Renders the Case story as plain text. */
export function renderCaseStory(s: CaseStory): string {
  const c = s.case;
  return [
    `What happened: case ${s.caseId} (tenant ${s.tenant})`,
    '',
    ...triggerLines(s.trigger),
    `Case         ${c.caseId} ${c.status.toUpperCase()}${c.outcome ? ` ${c.outcome}` : ''}${c.code ? ` ${c.code}` : ''} opened ${c.openedAt ?? '?'}${c.closedAt ? ` closed ${c.closedAt}` : ''}`,
    ...snapshotLines(s.snapshots),
    ...(s.builds.length ? s.builds.flatMap((b) => buildLines(b)) : ['Build        (none)']),
    ...(s.releases.length
      ? s.releases.flatMap((r) => [`Release      ${r.releaseId} ${r.env}/${r.channel}`, ...verificationLines(r.verification), ...activationLines(r.activation), ...consumerLines(r.consumers)])
      : ['Release      (none)']),
    ...gapLines(s.gaps),
  ].join('\n') + '\n';
}
