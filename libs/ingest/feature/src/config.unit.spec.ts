import { DEFAULT_INBOUND_CONCURRENCY, INBOUND_BATCH, INGEST_CONFIG_SCHEMA } from './config';
import { INGEST_INBOUND_DURABLE } from './inbound.consumer';
import { ingestConsumers } from './ingest-feature.module';

const base = { NATS_URL: 'nats://127.0.0.1:4222', DATABASE_URL: 'postgres://koa@127.0.0.1:5432/koa' };

describe('ingest-gateway configuration', () => {
  it('INGEST_INBOUND_CONCURRENCY defaults to 8 and accepts 1..16', () => {
    expect(INGEST_CONFIG_SCHEMA.parse(base).INGEST_INBOUND_CONCURRENCY).toBe(DEFAULT_INBOUND_CONCURRENCY);
    expect(DEFAULT_INBOUND_CONCURRENCY).toBe(8);
    expect(INGEST_CONFIG_SCHEMA.parse({ ...base, INGEST_INBOUND_CONCURRENCY: '1' }).INGEST_INBOUND_CONCURRENCY).toBe(1);
    expect(INGEST_CONFIG_SCHEMA.parse({ ...base, INGEST_INBOUND_CONCURRENCY: '16' }).INGEST_INBOUND_CONCURRENCY).toBe(16);
  });

  it.each(['0', '17', '2.5', 'many'])('INGEST_INBOUND_CONCURRENCY=%s is refused, naming the variable', (value) => {
    const r = INGEST_CONFIG_SCHEMA.safeParse({ ...base, INGEST_INBOUND_CONCURRENCY: value });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['INGEST_INBOUND_CONCURRENCY']);
  });

  it('the inbound consumer takes the configured concurrency; the projection keeps the default (stream order)', () => {
    const [inbound, projection] = ingestConsumers({ INGEST_INBOUND_CONCURRENCY: 3 });
    expect(inbound).toMatchObject({ durable: INGEST_INBOUND_DURABLE, kind: 'raw', batch: INBOUND_BATCH, concurrency: 3 });
    expect(projection.concurrency).toBeUndefined();
  });
});
