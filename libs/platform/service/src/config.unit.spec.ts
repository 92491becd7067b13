import { z } from 'zod';
import { KoaRefusal } from '@koa/contracts';
import { baseConfigSchema, loadConfig } from './config';

const valid = { NATS_URL: 'nats://127.0.0.1:4222', DATABASE_URL: 'postgres://koa:s3cret@db:5432/koa' };

const refusal = (fn: () => unknown): KoaRefusal => {
  try {
    fn();
  } catch (e) {
    if (e instanceof KoaRefusal) return e;
    throw e;
  }
  throw new Error('expected a KoaRefusal');
};

describe('loadConfig(baseConfigSchema)', () => {
  it('accepts a minimal environment and fills the defaults', () => {
    const c = loadConfig(baseConfigSchema, valid, { HTTP_PORT: '8083' });
    expect(c).toMatchObject({ ...valid, HTTP_PORT: 8083, HTTP_HOST: '0.0.0.0', LOG_LEVEL: 'info' });
    expect(c.SERVICE_INSTANCE.length).toBeGreaterThan(0);
  });

  it('lets the environment override the service default port, and accepts tls:// and several seeds', () => {
    const c = loadConfig(baseConfigSchema, { ...valid, NATS_URL: 'tls://a:4222, nats://b:4222', HTTP_PORT: '9000', LOG_LEVEL: 'debug' }, { HTTP_PORT: '8083' });
    expect(c.HTTP_PORT).toBe(9000);
    expect(c.LOG_LEVEL).toBe('debug');
  });

  it('names a missing NATS_URL', () => {
    const e = refusal(() => loadConfig(baseConfigSchema, { DATABASE_URL: valid.DATABASE_URL }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain('NATS_URL is missing (required)');
    expect(e.details['variables']).toEqual(['NATS_URL']);
  });

  it('treats an empty variable as missing', () => {
    const e = refusal(() => loadConfig(baseConfigSchema, { ...valid, DATABASE_URL: '' }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain('DATABASE_URL is missing');
  });

  it('names a malformed DATABASE_URL without echoing its value', () => {
    const e = refusal(() => loadConfig(baseConfigSchema, { ...valid, DATABASE_URL: 'mysql://root:hunter2@db/koa' }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toMatch(/DATABASE_URL must use the scheme postgres: or postgresql:/);
    expect(e.message).not.toContain('hunter2');
  });

  it('names a NATS_URL that is not a URL or has the wrong scheme', () => {
    expect(refusal(() => loadConfig(baseConfigSchema, { ...valid, NATS_URL: 'localhost' })).message).toMatch(/NATS_URL is not a URL/);
    expect(refusal(() => loadConfig(baseConfigSchema, { ...valid, NATS_URL: 'http://x:4222' })).message).toMatch(/NATS_URL must use the scheme nats: or tls:/);
  });

  it('names EVERY bad variable at once', () => {
    const e = refusal(() => loadConfig(baseConfigSchema, { DATABASE_URL: 'nope', HTTP_PORT: '70000', LOG_LEVEL: 'loud' }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.details['variables']).toEqual(expect.arrayContaining(['NATS_URL', 'DATABASE_URL', 'HTTP_PORT', 'LOG_LEVEL']));
    for (const v of ['NATS_URL', 'DATABASE_URL', 'HTTP_PORT', 'LOG_LEVEL']) expect(e.message).toContain(v);
    expect(e.message).toMatch(/HTTP_PORT must be between 1 and 65535/);
  });

  it('refuses a non-integer port', () => {
    expect(refusal(() => loadConfig(baseConfigSchema, { ...valid, HTTP_PORT: 'eighty' })).message).toMatch(/HTTP_PORT must be an integer port number/);
  });

  it('lets a service extend the schema with its own variables', () => {
    const schema = baseConfigSchema.extend({ MAX_UPLOAD_BYTES: z.coerce.number().int().positive() });
    expect(refusal(() => loadConfig(schema, valid)).message).toContain('MAX_UPLOAD_BYTES is missing');
    expect(loadConfig(schema, { ...valid, MAX_UPLOAD_BYTES: '1024' }).MAX_UPLOAD_BYTES).toBe(1024);
  });
});
