import fc from 'fast-check';
import { ChannelAdvanced, KoaRefusal, ReleaseActivated, ReleaseRefused, ReleaseVerified, createEvent, sha256Digest } from '@koa/contracts';
import { decideAdvance, evolveChannel, foldChannel, initialChannelState, type ChannelAdvancedEvent } from './channel';
import { foldRelease, evolveRelease, initialReleaseState } from './release';
import { releaseIdFor } from './release-id';

const advanced = (version: number, releaseId: string, n = version): ChannelAdvancedEvent =>
  createEvent(ChannelAdvanced, {
    id: `ca-${n}`,
    time: '2026-11-26T10:00:00.000Z',
    source: 'konnaxion-release',
    tenant: 'acme',
    aggregateId: 'dev_stable',
    actor: 'service:konnaxion-release',
    data: { env: 'dev', channel: 'stable', version, releaseId, packDigest: sha256Digest(releaseId) },
  });

describe('channel aggregate', () => {
  it('starts at version 0 with no current release', () => {
    expect(initialChannelState()).toEqual({ version: 0, current: undefined, history: [] });
  });

  it('folds ChannelAdvanced into version, releaseId and packDigest', () => {
    const state = foldChannel([advanced(1, 'r-a'), advanced(2, 'r-b')]);
    expect(state.version).toBe(2);
    expect(state.current).toEqual({ version: 2, releaseId: 'r-b', packDigest: sha256Digest('r-b') });
    expect(state.history.map((h) => h.releaseId)).toEqual(['r-a', 'r-b']);
  });

  it.each([[1], [3]])('refuses a ChannelAdvanced to version %i after version 1 (repeat or gap)', (v) => {
    const one = foldChannel([advanced(1, 'r-a')]);
    expect(() => evolveChannel(one, advanced(v, 'r-x', 99))).toThrow(expect.objectContaining({ code: 'EVENT_DATA_INVALID' }));
  });

  it('decides version = last + 1 with the previous position', () => {
    const state = foldChannel([advanced(1, 'r-a')]);
    const d = decideAdvance(state, { releaseId: 'r-b', packDigest: sha256Digest('r-b') });
    expect(d).toEqual({ alreadyAdvanced: false, entry: { version: 2, releaseId: 'r-b', packDigest: sha256Digest('r-b') }, previous: state.current });
  });

  it('recognises a release that already advanced the channel, even if superseded (redelivery)', () => {
    const state = foldChannel([advanced(1, 'r-a'), advanced(2, 'r-b'), advanced(3, 'r-c')]);
    const d = decideAdvance(state, { releaseId: 'r-b', packDigest: sha256Digest('r-b') });
    expect(d).toMatchObject({ alreadyAdvanced: true, entry: { version: 2, releaseId: 'r-b' }, previous: { version: 1, releaseId: 'r-a' } });
  });

  it('property: any sequence of distinct releases, each advanced once or redelivered, yields versions 1..n strictly increasing', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 30 }), (picks) => {
        let state = initialChannelState();
        let n = 0;
        for (const p of picks) {
          const releaseId = `r-${p}`;
          const d = decideAdvance(state, { releaseId, packDigest: sha256Digest(releaseId) });
          if (!d.alreadyAdvanced) state = evolveChannel(state, advanced(d.entry.version, releaseId, ++n));
        }
        const versions = state.history.map((h) => h.version);
        expect(versions).toEqual(versions.map((_, i) => i + 1));
        expect(new Set(state.history.map((h) => h.releaseId)).size).toBe(state.history.length);
        expect(state.history.length).toBe(new Set(picks).size);
      }),
      { numRuns: 200 },
    );
  });
});

describe('release aggregate', () => {
  const common = { time: '2026-11-26T10:00:00.000Z', source: 'konnaxion-release', tenant: 'acme', aggregateId: 'r-t1', actor: 'service:konnaxion-release' };
  const scope = { releaseId: 'r-t1', caseId: 'c1', taskId: 't1', env: 'dev', channel: 'stable' };
  const digest = sha256Digest('p');
  const verified = createEvent(ReleaseVerified, { ...common, id: 'v', data: { ...scope, packDigest: digest, checks: [{ check: 'pack-bytes', passed: true }] } });
  const refused = createEvent(ReleaseRefused, { ...common, id: 'x', data: { ...scope, packDigest: digest, code: 'RELEASE_NOT_REQUESTED', message: 'no' } });
  const activated = createEvent(ReleaseActivated, {
    ...common,
    id: 'a',
    data: { ...scope, version: 1, packDigest: digest, packSize: 1, kid: 'k', expiresAt: '2026-12-26T10:00:00.000Z', notice: 'a.b.c' },
  });

  it('goes none → verified → activated', () => {
    expect(foldRelease([]).status).toBe('none');
    expect(foldRelease([verified]).status).toBe('verified');
    expect(foldRelease([verified, activated])).toMatchObject({ status: 'activated', activated: { version: 1 } });
  });
  it('goes none → refused', () => {
    expect(foldRelease([refused])).toMatchObject({ status: 'refused', refused: { code: 'RELEASE_NOT_REQUESTED' } });
  });
  it.each([
    ['activated before verified', [activated]],
    ['verified after refused', [refused, verified]],
    ['verified twice', [verified, verified]],
    ['refused after activated', [verified, activated, refused]],
  ])('refuses an impossible history: %s', (_name, events) => {
    expect(() => foldRelease(events)).toThrow(KoaRefusal);
    expect(() => foldRelease(events)).toThrow(expect.objectContaining({ code: 'EVENT_DATA_INVALID' }));
  });
  it('evolve from initial state is a pure function', () => {
    const s0 = initialReleaseState();
    evolveRelease(s0, verified);
    expect(s0).toEqual({ status: 'none' });
  });
});

describe('releaseIdFor', () => {
  it('is deterministic: r-<taskId>', () => {
    expect(releaseIdFor('task-7')).toBe('r-task-7');
    expect(releaseIdFor('task-7')).toBe(releaseIdFor('task-7'));
  });
  it('hashes task ids too long for r-<taskId> (never truncates, so never collides)', () => {
    expect(releaseIdFor('x'.repeat(62))).toBe(`r-${'x'.repeat(62)}`);
    const a = releaseIdFor('x'.repeat(63));
    const b = releaseIdFor('x'.repeat(64));
    expect(a).toMatch(/^rh-[0-9a-f]{61}$/);
    expect(b).toMatch(/^rh-[0-9a-f]{61}$/);
    expect(a).not.toBe(b);
    expect(releaseIdFor('x'.repeat(63))).toBe(a);
  });
  it('refuses an invalid task id', () => {
    expect(() => releaseIdFor('a.b')).toThrow(expect.objectContaining({ code: 'SUBJECT_TOKEN_INVALID' }));
    expect(() => releaseIdFor('x'.repeat(65))).toThrow(expect.objectContaining({ code: 'SUBJECT_TOKEN_INVALID' }));
  });
});
