import fc from 'fast-check';
import {
  AGGREGATES,
  assertToken,
  channelAggregateId,
  filters,
  isToken,
  KoaRefusal,
  objectNameFor,
  parseEventSubject,
  parseIngestSubject,
  parseReleaseSubject,
  subjects,
  TOKEN_PATTERN,
  ENV_PATTERN,
  type TokenKind,
} from '@koa/contracts';

const RUNS = { numRuns: 300 };
const KINDS: TokenKind[] = ['tenant', 'source', 'channel', 'aggregate', 'id', 'consumer'];
const validToken = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const validEnv = fc.stringMatching(/^[a-z][a-z0-9]{0,15}$/);
/** Arbitrary strings biased towards the dangerous characters of NATS subjects. */
const nasty = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', '*', '>', 'a.b', 'a b', ' a', 'a\n', 'a\tb', '..', 'tenant.>', 'x'.repeat(65), 'é', '\u0000', 'a/b', 'a*b'),
);
const invalidToken = nasty.filter((s) => !TOKEN_PATTERN.test(s));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof KoaRefusal ? e.code : `not a KoaRefusal: ${String(e)}`;
  }
}

/** Every token of a concrete subject is non-empty and has no wildcard, space or control character. */
const isConcreteSubject = (subject: string): boolean => subject.split('.').every((t) => /^[A-Za-z0-9_-]+$/.test(t));

describe('subject tokens', () => {
  it('refuses any string outside [A-Za-z0-9_-]{1,64} with SUBJECT_TOKEN_INVALID, for every kind', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KINDS), invalidToken, (kind, value) => {
        expect(codeOf(() => assertToken(kind, value))).toBe('SUBJECT_TOKEN_INVALID');
        expect(isToken(kind, value)).toBe(false);
      }),
      RUNS,
    );
  });

  it('returns any valid token unchanged', () => {
    fc.assert(fc.property(fc.constantFrom(...KINDS), validToken, (kind, value) => assertToken(kind, value) === value && isToken(kind, value)), RUNS);
  });

  it('refuses non-strings', () => {
    for (const value of [undefined, null, 42, {}, ['a']]) expect(codeOf(() => assertToken('tenant', value))).toBe('SUBJECT_TOKEN_INVALID');
  });

  it('names the token kind and the value in the refusal', () => {
    try {
      assertToken('channel', 'a.>');
      throw new Error('expected a refusal');
    } catch (e) {
      expect((e as KoaRefusal).code).toBe('SUBJECT_TOKEN_INVALID');
      expect((e as KoaRefusal).message).toContain('channel');
      expect((e as KoaRefusal).message).toContain('"a.>"');
      expect((e as KoaRefusal).details).toEqual({ token: 'channel' });
    }
  });

  it('accepts environments matching [a-z][a-z0-9]{0,15} only', () => {
    for (const env of ['dev', 'staging', 'prod', 'p1', 'a'.repeat(16)]) expect(assertToken('env', env)).toBe(env);
    for (const env of ['', 'Prod', 'pro_d', 'pro-d', '1prod', 'a'.repeat(17), 'prod.x', '*']) expect(codeOf(() => assertToken('env', env))).toBe('SUBJECT_TOKEN_INVALID');
    fc.assert(
      fc.property(nasty.filter((s) => !ENV_PATTERN.test(s)), (env) => codeOf(() => assertToken('env', env)) === 'SUBJECT_TOKEN_INVALID'),
      RUNS,
    );
  });

  it('builds an unambiguous channel aggregate id <env>_<channel>', () => {
    fc.assert(
      fc.property(validEnv, validToken, (env, channel) => {
        const id = channelAggregateId(env, channel);
        // env + '_' + channel may exceed one token: then the channel subject is refused, never truncated
        if (id.length > 64) expect(codeOf(() => subjects.channel('acme', env, channel))).toBe('SUBJECT_TOKEN_INVALID');
        else expect(subjects.channel('acme', env, channel)).toBe(`koa.evt.acme.channel.${id}`);
        const cut = id.indexOf('_');
        expect([id.slice(0, cut), id.slice(cut + 1)]).toEqual([env, channel]);
      }),
      RUNS,
    );
  });
});

describe('subject builders', () => {
  const builders: Array<[string, (a: string, b: string, c: string) => string]> = [
    ['event', (a, b, c) => subjects.event(a, AGGREGATES[b.length % AGGREGATES.length], c)],
    ['ingest', (a, b) => subjects.ingest(a, b)],
    ['release', (a, b, c) => subjects.release(a, 'prod', c + b)],
    ['audit', (a) => subjects.audit(a)],
    ['deadLetter', (a) => subjects.deadLetter(a)],
    ['channel', (a, b) => subjects.channel(a, 'prod', b)],
  ];

  it.each(builders)('%s never returns a subject with a wildcard, a space or an empty token (any input)', (_name, build) => {
    fc.assert(
      fc.property(fc.oneof(validToken, nasty), fc.oneof(validToken, nasty), fc.oneof(validToken, nasty), (a, b, c) => {
        let subject: string;
        try {
          subject = build(a, b, c);
        } catch (e) {
          expect(e).toBeInstanceOf(KoaRefusal);
          expect((e as KoaRefusal).code).toBe('SUBJECT_TOKEN_INVALID');
          return;
        }
        expect(isConcreteSubject(subject)).toBe(true);
        expect(subject).not.toMatch(/[*> ]/);
      }),
      RUNS,
    );
  });

  it('lays out subjects as documented and parses them back', () => {
    fc.assert(
      fc.property(validToken, fc.constantFrom(...AGGREGATES), validToken, validEnv, validToken, (tenant, aggregate, id, env, channel) => {
        expect(subjects.event(tenant, aggregate, id)).toBe(`koa.evt.${tenant}.${aggregate}.${id}`);
        expect(parseEventSubject(subjects.event(tenant, aggregate, id))).toEqual({ tenant, aggregate, id });
        expect(parseIngestSubject(subjects.ingest(tenant, id))).toEqual({ tenant, source: id });
        expect(parseReleaseSubject(subjects.release(tenant, env, channel))).toEqual({ tenant, env, channel });
        expect(subjects.audit(tenant)).toBe(`koa.audit.${tenant}`);
        expect(subjects.deadLetter(id)).toBe(`koa.dlq.${id}`);
      }),
      RUNS,
    );
    expect(subjects.channel('acme', 'prod', 'stable')).toBe('koa.evt.acme.channel.prod_stable');
  });

  it('parsers return undefined for other shapes', () => {
    expect(parseEventSubject('koa.evt.acme.case')).toBeUndefined();
    expect(parseEventSubject('koa.ingest.acme.case.x')).toBeUndefined();
    expect(parseIngestSubject('koa.ingest.acme')).toBeUndefined();
    expect(parseReleaseSubject('koa.release.acme.prod')).toBeUndefined();
  });

  it('produces wildcards only in filters, from literal patterns', () => {
    expect(filters.aggregate('case')).toBe('koa.evt.*.case.*');
    expect(filters.allEvents).toBe('koa.evt.>');
    expect(codeOf(() => filters.aggregate('case.>' as never))).toBe('SUBJECT_TOKEN_INVALID');
  });
});

describe('objectNameFor', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  it('names objects <tenant>/<hex>', () => {
    expect(objectNameFor('acme', digest)).toBe(`acme/${'a'.repeat(64)}`);
  });
  it('refuses a non-digest and an invalid tenant', () => {
    expect(() => objectNameFor('acme', 'sha256:abc')).toThrow(/not a sha256 digest/);
    expect(() => objectNameFor('ac/me', digest)).toThrow(/invalid tenant/);
  });
});
