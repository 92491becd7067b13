// Property: no single-character change to a valid notice verifies — every mutant is refused with a
// NOTICE_* code (never accepted, never an unexpected error). Bounded: 300 runs.
import fc from 'fast-check';
import { isKoaRefusal } from '@koa/contracts';
import { loadTrustRoot, verifyReleaseNotice, type TrustRoot } from './index';
import { FIXTURE_LAST_TRUSTED_VERSION, FIXTURE_NOW, FIXTURE_SCOPE, readGoldenFixtures } from './testing';

const { read } = readGoldenFixtures();
const valid = read('notice.valid.jws');
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
let trustRoot: TrustRoot;

beforeAll(async () => {
  trustRoot = await loadTrustRoot(read('trust-root.dev.v1.json'), { env: 'dev', now: FIXTURE_NOW });
});

it('the unmutated notice verifies (control)', async () => {
  await expect(verifyReleaseNotice(valid, { trustRoot, scope: FIXTURE_SCOPE, lastTrustedVersion: FIXTURE_LAST_TRUSTED_VERSION, now: FIXTURE_NOW })).resolves.toBeDefined();
});

it('refuses every single-character substitution, including in the last signature character', async () => {
  const positions = fc.oneof(fc.integer({ min: 0, max: valid.length - 1 }), fc.constant(valid.length - 1), fc.constant(valid.length - 2));
  await fc.assert(
    fc.asyncProperty(positions, fc.constantFrom(...ALPHABET), async (at, ch) => {
      fc.pre(valid[at] !== ch);
      const mutant = `${valid.slice(0, at)}${ch}${valid.slice(at + 1)}`;
      try {
        await verifyReleaseNotice(mutant, { trustRoot, scope: FIXTURE_SCOPE, lastTrustedVersion: FIXTURE_LAST_TRUSTED_VERSION, now: FIXTURE_NOW });
      } catch (e) {
        return isKoaRefusal(e) && e.code.startsWith('NOTICE_');
      }
      return false;
    }),
    { numRuns: 300, seed: 20260601 },
  );
});
