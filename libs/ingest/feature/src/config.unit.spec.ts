import { DEFAULT_INBOUND_CONCURRENCY, INGEST_CONFIG_SCHEMA, PROJECTION_BATCH_WAIT_MS, inboundBatch } from './config';
import { INGEST_INBOUND_DURABLE } from './inbound.consumer';
import { ingestConsumers } from './ingest-feature.module';

const base = { NATS_URL: 'nats://127.0.0.1:4222', DATABASE_URL: 'postgres://koa@127.0.0.1:5432/koa' };

describe('ingest-gateway configuration', () => {
  it('INGEST_INBOUND_CONCURRENCY defaults to 32 and accepts 1..64', () => {
    expect(INGEST_CONFIG_SCHEMA.parse(base).INGEST_INBOUND_CONCURRENCY).toBe(DEFAULT_INBOUND_CONCURRENCY);
    expect(DEFAULT_INBOUND_CONCURRENCY).toBe(32);
    expect(INGEST_CONFIG_SCHEMA.parse({ ...base, INGEST_INBOUND_CONCURRENCY: '1' }).INGEST_INBOUND_CONCURRENCY).toBe(1);
    expect(INGEST_CONFIG_SCHEMA.parse({ ...base, INGEST_INBOUND_CONCURRENCY: '64' }).INGEST_INBOUND_CONCURRENCY).toBe(64);
  });

  it.each(['0', '65', '2.5', 'many'])('INGEST_INBOUND_CONCURRENCY=%s is refused, naming the variable', (value) => {
    const r = INGEST_CONFIG_SCHEMA.safeParse({ ...base, INGEST_INBOUND_CONCURRENCY: value });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['INGEST_INBOUND_CONCURRENCY']);
  });

  it('the inbound consumer runs without the inbox at the configured concurrency (batch 2× it, at least 32); the projection keeps the inbox and stream order and may wait for trickling events', () => {
    const [inbound, projection] = ingestConsumers({ INGEST_INBOUND_CONCURRENCY: 3 });
    expect(inbound).toMatchObject({ durable: INGEST_INBOUND_DURABLE, kind: 'raw', inbox: false, batch: 32, concurrency: 3 });
    expect(ingestConsumers({ INGEST_INBOUND_CONCURRENCY: 64 })[0]).toMatchObject({ batch: 128, concurrency: 64 });
    expect(inboundBatch(16)).toBe(32);
    expect(projection.concurrency).toBeUndefined();
    expect(projection.inbox).toBeUndefined();
    expect(projection.batchWaitMs).toBe(PROJECTION_BATCH_WAIT_MS);
  });
});
