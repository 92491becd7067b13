import fc from 'fast-check';
import { KoaRefusal, canonicalDigest, createEvent, sha256Digest, BuildFailed, PackCompiled, ReleaseActivated, ReleaseRefused } from '@koa/contracts';
import {
  buildTaskIdFor,
  caseIdFor,
  commandForOutcome,
  decide,
  evolve,
  initialState,
  openCaseCommand,
  parseOperatorTrigger,
  releaseTaskIdFor,
  replay,
  caseView,
  isSameTrigger,
  type CaseCommand,
  type CaseEvent,
  type CaseState,
} from '@koa/orgo/domain';

// ---- Given / When / Then -------------------------------------------------------------------

const T0 = '2026-03-01T10:00:00.000Z';
const T1 = '2026-03-01T10:05:00.000Z';
const T2 = '2026-03-01T10:09:00.000Z';
const digests = [sha256Digest('a'), sha256Digest('b')].sort();
const root = canonicalDigest({ digests });

const trigger = (over: { key?: string; env?: string; channel?: string; reason?: string; actor?: string } = {}) =>
  parseOperatorTrigger({
    tenant: 'acme',
    idempotencyKey: over.key ?? 'key-1',
    actor: over.actor ?? 'user:alice',
    body: { snapshotSetRoot: root, env: over.env ?? 'dev', channel: over.channel ?? 'stable', reason: over.reason ?? 'weekly refresh' },
    receivedAt: T0,
    origin: { address: '127.0.0.1', userAgent: 'jest' },
  });

const open = (over?: Parameters<typeof trigger>[0]) => openCaseCommand(trigger(over), digests);
const caseId = caseIdFor('acme', 'key-1');

function given(events: CaseEvent[]) {
  const state = events.reduce(evolve, initialState());
  return {
    when: (command: CaseCommand) => ({
      then: (expected: (events: CaseEvent[]) => void) => expected(decide(command, state)),
      thenRefuses: (code: string) => {
        try {
          decide(command, state);
        } catch (e) {
          expect(e).toBeInstanceOf(KoaRefusal);
          expect((e as KoaRefusal).code).toBe(code);
          return;
        }
        throw new Error(`expected refusal ${code}`);
      },
    }),
  };
}

const base = (i: number) => ({ source: 'pipeline-worker', tenant: 'acme', actor: 'service:pipeline-worker', time: T1, id: `evt-${i}` });
const pack = { digest: sha256Digest('pack'), size: 42, mediaType: 'application/vnd.koa.pack.v1+tar' as const };
const packCompiled = (over: { taskId?: string; snapshotSetRoot?: string; buildId?: string } = {}) =>
  createEvent(PackCompiled, {
    ...base(1),
    aggregateId: over.buildId ?? 'b-1',
    correlationId: caseId,
    data: {
      buildId: over.buildId ?? 'b-1',
      caseId,
      taskId: over.taskId ?? buildTaskIdFor(caseId),
      pack,
      manifestDigest: sha256Digest('manifest'),
      evidenceDigest: sha256Digest('evidence'),
      provenanceDigest: sha256Digest('provenance'),
      provenance: {
        buildType: 'https://koa.dev/pipeline/v1',
        builder: { id: 'pipeline-worker', version: '1' },
        pipelineVersion: '1',
        inputs: digests.map((digest) => ({ digest, mediaType: 'text/plain' })),
        snapshotSetRoot: over.snapshotSetRoot ?? root,
        parameters: {},
        output: { digest: pack.digest, size: pack.size },
      },
    },
  });
const buildFailed = (taskId = buildTaskIdFor(caseId)) =>
  createEvent(BuildFailed, { ...base(2), aggregateId: 'b-1', data: { buildId: 'b-1', caseId, taskId, stage: 'validate', code: 'VALIDATION_FAILED', message: '2 rules failed' } });
const releaseBase = { ...base(3), source: 'konnaxion-release', actor: 'service:konnaxion-release', aggregateId: 'r-1' };
const activated = (taskId = releaseTaskIdFor(caseId)) =>
  createEvent(ReleaseActivated, {
    ...releaseBase,
    data: { releaseId: 'r-1', caseId, taskId, env: 'dev', channel: 'stable', version: 1, packDigest: pack.digest, packSize: pack.size, kid: 'k1', expiresAt: T2, notice: 'x.y.z' },
  });
const refused = (taskId = releaseTaskIdFor(caseId)) =>
  createEvent(ReleaseRefused, { ...releaseBase, id: 'evt-4', data: { releaseId: 'r-1', caseId, taskId, env: 'dev', channel: 'stable', code: 'RELEASE_PROVENANCE_INVALID', message: 'untrusted builder' } });

const opened = () => decide(open(), initialState());
const building = () => opened();
const releasing = () => [...opened(), ...decide(commandForOutcome(packCompiled(), T1), replay(opened()))];

// ---- scenarios -----------------------------------------------------------------------------

describe('Case decider', () => {
  it('OpenCase ⇒ CaseOpened + TaskRequested(build) with the pinned digests', () => {
    given([]).when(open()).then((events) => {
      expect(events.map((e) => e.type)).toEqual(['io.koa.orgo.case.opened.v1', 'io.koa.orgo.task.requested.v1']);
      const [o, t] = events;
      expect(o.subject).toBe(`case/${caseId}`);
      expect(o.correlationid).toBe(caseId);
      expect(o.actor).toBe('user:alice');
      expect(o.reason).toBe('weekly refresh');
      expect(o.id).toBe(`${caseId}.open-1`);
      if (o.type !== 'io.koa.orgo.case.opened.v1' || t.type !== 'io.koa.orgo.task.requested.v1') throw new Error('types');
      expect(o.data.trigger).toMatchObject({ kind: 'operator', idempotencyKey: 'key-1', requestedBy: 'user:alice', receivedAt: T0, origin: { via: 'http', address: '127.0.0.1', userAgent: 'jest' } });
      expect(t.data).toEqual({ caseId, taskId: buildTaskIdFor(caseId), params: { kind: 'build', snapshotSetRoot: root, digests } });
    });
  });

  it('OpenCase on an open case ⇒ CASE_COMMAND_INVALID', () => {
    given(building()).when(open()).thenRefuses('CASE_COMMAND_INVALID');
  });

  it('PackCompiled ⇒ TaskCompleted(build, succeeded) + TaskRequested(release) with pack, evidence, provenance, env, channel', () => {
    given(building()).when(commandForOutcome(packCompiled(), T1)).then((events) => {
      expect(events.map((e) => e.type)).toEqual(['io.koa.orgo.task.completed.v1', 'io.koa.orgo.task.requested.v1']);
      const [done, req] = events;
      expect(done.data).toMatchObject({ taskId: buildTaskIdFor(caseId), kind: 'build', outcome: 'succeeded', ref: 'b-1' });
      expect(req.data).toEqual({
        caseId,
        taskId: releaseTaskIdFor(caseId),
        params: { kind: 'release', buildId: 'b-1', env: 'dev', channel: 'stable', pack: { digest: pack.digest, size: 42 }, evidenceDigest: sha256Digest('evidence'), provenanceDigest: sha256Digest('provenance') },
      });
      expect(done.causationid).toBe('evt-1');
      expect(done.actor).toBe('service:orgo-control');
    });
  });

  it('the same PackCompiled recorded twice is a no-op (no events)', () => {
    given(releasing()).when(commandForOutcome(packCompiled(), T2)).then((events) => expect(events).toEqual([]));
  });

  it('a build that consumed another snapshot set is refused CASE_COMMAND_INVALID', () => {
    given(building()).when(commandForOutcome(packCompiled({ snapshotSetRoot: sha256Digest('other') }), T1)).thenRefuses('CASE_COMMAND_INVALID');
  });

  it('BuildFailed ⇒ TaskCompleted(failed) + CaseClosed(failed, code)', () => {
    given(building()).when(commandForOutcome(buildFailed(), T1)).then((events) => {
      expect(events.map((e) => e.type)).toEqual(['io.koa.orgo.task.completed.v1', 'io.koa.orgo.case.closed.v1']);
      expect(events[0].data).toMatchObject({ kind: 'build', outcome: 'failed', code: 'VALIDATION_FAILED' });
      expect(events[1].data).toEqual({ caseId, outcome: 'failed', code: 'VALIDATION_FAILED', message: '2 rules failed' });
    });
  });

  it('ReleaseActivated ⇒ TaskCompleted(release) + CaseClosed(succeeded)', () => {
    given(releasing()).when(commandForOutcome(activated(), T2)).then((events) => {
      expect(events.map((e) => e.type)).toEqual(['io.koa.orgo.task.completed.v1', 'io.koa.orgo.case.closed.v1']);
      expect(events[0].data).toMatchObject({ kind: 'release', outcome: 'succeeded', ref: 'r-1' });
      expect(events[1].data).toEqual({ caseId, outcome: 'succeeded' });
      const state = replay([...releasing(), ...events]);
      expect(caseView(state)).toMatchObject({ status: 'closed', phase: 'succeeded' });
    });
  });

  it('ReleaseRefused ⇒ CaseClosed(failed, code)', () => {
    given(releasing()).when(commandForOutcome(refused(), T2)).then((events) => {
      expect(events[1].data).toEqual({ caseId, outcome: 'failed', code: 'RELEASE_PROVENANCE_INVALID', message: 'untrusted builder' });
    });
  });

  it('outcomes for a case that was never opened ⇒ CASE_NOT_FOUND', () => {
    given([]).when(commandForOutcome(buildFailed(), T1)).thenRefuses('CASE_NOT_FOUND');
  });

  it('a release outcome while only the build was requested ⇒ CASE_COMMAND_INVALID', () => {
    given(building()).when(commandForOutcome(activated(), T1)).thenRefuses('CASE_COMMAND_INVALID');
  });

  it('a release outcome naming the build task ⇒ CASE_COMMAND_INVALID (wrong kind)', () => {
    given(releasing()).when(commandForOutcome(activated(buildTaskIdFor(caseId)), T2)).thenRefuses('CASE_COMMAND_INVALID');
  });

  it('an approval-gated environment fails closed (the policy seam)', () => {
    const state = replay(building());
    const cmd = commandForOutcome(packCompiled(), T1);
    try {
      decide(cmd, state, { policyFor: (env) => ({ env, approvalsRequired: 1, approverMustDifferFromRequester: true }) });
      throw new Error('expected refusal');
    } catch (e) {
      expect((e as KoaRefusal).code).toBe('CASE_COMMAND_INVALID');
    }
  });

  it('the case view shows the phase', () => {
    expect(caseView(replay(building()))).toMatchObject({ status: 'open', phase: 'building' });
    expect(caseView(replay(releasing()))).toMatchObject({ status: 'open', phase: 'releasing' });
    expect(() => caseView(initialState())).toThrow(expect.objectContaining({ code: 'CASE_NOT_FOUND' }));
  });
});

describe('operator triggers', () => {
  it('caseId is deterministic per (tenant, key) and differs across tenants and keys', () => {
    expect(caseIdFor('acme', 'k')).toBe(caseIdFor('acme', 'k'));
    expect(caseIdFor('acme', 'k')).not.toBe(caseIdFor('other', 'k'));
    expect(caseIdFor('acme', 'k')).not.toBe(caseIdFor('acme', 'k2'));
    expect(caseIdFor('acme', 'k')).toMatch(/^c-[0-9a-f]{40}$/);
  });

  it('a retry is the same trigger; another body or actor is not', () => {
    const state = replay(opened());
    if (state.status !== 'open') throw new Error('not open');
    expect(isSameTrigger(state, { ...trigger(), receivedAt: T2, origin: {} })).toBe(true);
    expect(isSameTrigger(state, trigger({ channel: 'beta' }))).toBe(false);
    expect(isSameTrigger(state, trigger({ reason: 'other reason' }))).toBe(false);
    expect(isSameTrigger(state, trigger({ actor: 'user:bob' }))).toBe(false);
  });

  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return { code: (e as KoaRefusal).code, message: (e as KoaRefusal).message };
    }
    throw new Error('expected refusal');
  };
  const raw = { tenant: 'acme', idempotencyKey: 'k', actor: 'user:alice', body: { snapshotSetRoot: root, env: 'dev', channel: 'stable', reason: 'r' }, receivedAt: T0, origin: {} };

  it.each([
    ['missing Idempotency-Key', { idempotencyKey: undefined }, 'TRIGGER_INVALID', 'Idempotency-Key'],
    ['key with spaces', { idempotencyKey: 'a b' }, 'TRIGGER_INVALID', 'Idempotency-Key'],
    ['missing actor', { actor: undefined }, 'TRIGGER_INVALID', 'X-Koa-Actor'],
    ['service actor', { actor: 'service:x' }, 'TRIGGER_INVALID', 'X-Koa-Actor'],
    ['bad root', { body: { ...raw.body, snapshotSetRoot: 'sha256:xyz' } }, 'TRIGGER_INVALID', 'snapshotSetRoot'],
    ['empty reason', { body: { ...raw.body, reason: '  ' } }, 'TRIGGER_INVALID', 'reason'],
    ['bad env', { body: { ...raw.body, env: 'Prod_1' } }, 'TRIGGER_INVALID', 'env'],
    ['extra field', { body: { ...raw.body, force: true } }, 'TRIGGER_INVALID', 'force'],
    ['bad tenant', { tenant: 'a.b' }, 'SUBJECT_TOKEN_INVALID', 'tenant'],
  ])('refuses %s', (_name, over, code, field) => {
    const r = refusal(() => parseOperatorTrigger({ ...raw, ...over }));
    expect(r.code).toBe(code);
    expect(r.message).toContain(field);
  });
});

// ---- properties ----------------------------------------------------------------------------

const commandArb: fc.Arbitrary<CaseCommand> = fc.oneof(
  fc.constant(open()),
  fc.constantFrom(packCompiled(), buildFailed(), activated(), refused(), packCompiled({ taskId: 'unknown-task' }), buildFailed('nope')).map((e) => commandForOutcome(e, T1)),
);

/** Runs commands, skipping refused ones, returning every event and every state along the way. */
function run(commands: CaseCommand[]): { events: CaseEvent[]; state: CaseState } {
  let state = initialState();
  const events: CaseEvent[] = [];
  for (const c of commands) {
    try {
      const out = decide(c, state);
      events.push(...out);
      state = out.reduce(evolve, state);
    } catch (e) {
      if (!(e instanceof KoaRefusal)) throw e;
    }
  }
  return { events, state };
}

describe('Case decider properties', () => {
  it('replaying the recorded events gives the state reached while deciding', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 12 }), (commands) => {
        const { events, state } = run(commands);
        expect(replay(events)).toEqual(state);
      }),
      { numRuns: 200 },
    );
  });

  it('a closed case accepts nothing: every command is refused CASE_ALREADY_CLOSED', () => {
    const closedStates = [replay([...building(), ...decide(commandForOutcome(buildFailed(), T1), replay(building()))]), replay([...releasing(), ...decide(commandForOutcome(activated(), T2), replay(releasing()))])];
    fc.assert(
      fc.property(fc.constantFrom(...closedStates), commandArb, (state, command) => {
        expect(state.status).toBe('closed');
        expect(() => decide(command, state)).toThrow(expect.objectContaining({ code: 'CASE_ALREADY_CLOSED' }));
      }),
      { numRuns: 100 },
    );
  });

  it('outcomes for tasks the case does not have are refused CASE_COMMAND_INVALID', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(building(), releasing()),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/).filter((id) => id !== buildTaskIdFor(caseId) && id !== releaseTaskIdFor(caseId)),
        fc.constantFrom<'build-ok' | 'build-failed' | 'release-ok' | 'release-refused'>('build-ok', 'build-failed', 'release-ok', 'release-refused'),
        (history, taskId, kind) => {
          const event = { 'build-ok': () => packCompiled({ taskId }), 'build-failed': () => buildFailed(taskId), 'release-ok': () => activated(taskId), 'release-refused': () => refused(taskId) }[kind]();
          expect(() => decide(commandForOutcome(event, T2), replay(history))).toThrow(expect.objectContaining({ code: 'CASE_COMMAND_INVALID' }));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('every decided event belongs to the case subject, is correlated to the case, and has a unique id', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 12 }), (commands) => {
        const { events } = run(commands);
        for (const e of events) {
          expect(e.subject).toBe(`case/${caseId}`);
          expect(e.correlationid).toBe(caseId);
          expect(e.tenantid).toBe('acme');
        }
        expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
        expect(events.filter((e) => e.type === 'io.koa.orgo.case.closed.v1').length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });
});
