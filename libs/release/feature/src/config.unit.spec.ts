import { loadConfig } from '@koa/platform/service';
import { RELEASE_CONFIG_SCHEMA } from './config';
import { releaseEventId } from './release-process';

const base = { NATS_URL: 'nats://127.0.0.1:4222', DATABASE_URL: 'postgres://127.0.0.1:5432/koa' };

describe('RELEASE_CONFIG_SCHEMA', () => {
  it('has the documented defaults', () => {
    const c = loadConfig(RELEASE_CONFIG_SCHEMA, base);
    expect(c).toMatchObject({
      KEYS_DIR: './.koa/keys',
      ENVIRONMENTS: ['dev', 'staging', 'prod'],
      TRUSTED_BUILDERS: ['https://koa.dev/builders/pipeline-worker'],
      RELEASE_NOTICE_TTL_SECONDS: 2_592_000,
      PACK_DOWNLOAD_MAX_BYTES: 268_435_456,
    });
  });

  it('parses comma-separated lists, trimming blanks', () => {
    const c = loadConfig(RELEASE_CONFIG_SCHEMA, { ...base, ENVIRONMENTS: ' dev , prod ,', TRUSTED_BUILDERS: 'koa:pipeline-worker,ci:builder-2', RELEASE_NOTICE_TTL_SECONDS: '3600' });
    expect(c.ENVIRONMENTS).toEqual(['dev', 'prod']);
    expect(c.TRUSTED_BUILDERS).toEqual(['koa:pipeline-worker', 'ci:builder-2']);
    expect(c.RELEASE_NOTICE_TTL_SECONDS).toBe(3600);
  });

  it.each([
    ['ENVIRONMENTS', 'dev,Prod'],
    ['ENVIRONMENTS', 'dev_x'],
    ['ENVIRONMENTS', ','],
    ['TRUSTED_BUILDERS', ' , '],
    ['RELEASE_NOTICE_TTL_SECONDS', '10'],
    ['RELEASE_NOTICE_TTL_SECONDS', 'soon'],
  ])('refuses %s=%j with CONFIG_INVALID naming the variable', (variable, value) => {
    let error: unknown;
    try {
      loadConfig(RELEASE_CONFIG_SCHEMA, { ...base, [variable]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((error as Error).message).toContain(variable);
  });
});

describe('releaseEventId', () => {
  it('is deterministic and tenant-scoped', () => {
    expect(releaseEventId('acme', 'r-t1', 'verified')).toBe('acme:r-t1:verified');
    expect(releaseEventId('other', 'r-t1', 'verified')).not.toBe(releaseEventId('acme', 'r-t1', 'verified'));
  });
  it('stays within the 128-character envelope id limit by hashing long ones', () => {
    const id = releaseEventId('t'.repeat(64), 'r'.repeat(64), 'activated');
    expect(id).toMatch(/^activated:[0-9a-f]{64}$/);
    expect(id.length).toBeLessThanOrEqual(128);
    expect(releaseEventId('t'.repeat(64), 'r'.repeat(64), 'activated')).toBe(id);
    expect(releaseEventId('t'.repeat(64), 'q'.repeat(64), 'activated')).not.toBe(id);
  });
});
