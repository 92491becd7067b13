import { TOKEN_PATTERN } from '@koa/contracts';
import { PIPELINE_CONFIG_SCHEMA } from './config';
import { buildEventId, buildIdFor } from './ids';

describe('build ids', () => {
  it('b-<taskId> when it fits, a hash form (still a token, still deterministic) when not', () => {
    expect(buildIdFor('t-1')).toBe('b-t-1');
    const long = 'x'.repeat(64);
    expect(buildIdFor(long)).toMatch(/^b-[0-9a-f]{62}$/);
    expect(buildIdFor(long)).toBe(buildIdFor(long));
    expect(buildIdFor(long)).not.toBe(buildIdFor('y'.repeat(64)));
    expect(TOKEN_PATTERN.test(buildIdFor(long))).toBe(true);
  });
  it('event ids carry the tenant (Nats-Msg-Id de-duplication is per stream, across tenants) and stay within 128 chars', () => {
    expect(buildEventId('acme', 'b-t-1', 'started')).toBe('acme:b-t-1:started');
    expect(buildEventId('other', 'b-t-1', 'started')).not.toBe(buildEventId('acme', 'b-t-1', 'started'));
    const id = buildEventId('t'.repeat(64), buildIdFor('x'.repeat(64)), 'stage-validate');
    expect(id.length).toBeLessThanOrEqual(128);
    expect(id).toMatch(/^pw:[0-9a-f]{48}:stage-validate$/);
  });
});

describe('PIPELINE_CONFIG_SCHEMA', () => {
  const base = { NATS_URL: 'nats://127.0.0.1:4222', DATABASE_URL: 'postgres://127.0.0.1/x' };
  it('defaults', () => {
    const c = PIPELINE_CONFIG_SCHEMA.parse(base);
    expect(c.PIPELINE_BUILDER_ID).toBe('https://koa.dev/builders/pipeline-worker');
    expect(c.PIPELINE_KNOWN_TYPES).toBeUndefined();
    expect(c.PIPELINE_MAX_INPUT_BYTES).toBe(64 * 1024 * 1024);
  });
  it('parses the allowlist and refuses a bad entry', () => {
    expect(PIPELINE_CONFIG_SCHEMA.parse({ ...base, PIPELINE_KNOWN_TYPES: 'faq, equipment' }).PIPELINE_KNOWN_TYPES).toEqual(['faq', 'equipment']);
    expect(PIPELINE_CONFIG_SCHEMA.safeParse({ ...base, PIPELINE_KNOWN_TYPES: 'faq,not ok' }).success).toBe(false);
  });
});
