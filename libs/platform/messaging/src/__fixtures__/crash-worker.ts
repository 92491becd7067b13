// A child-process service for the SIGKILL crash test (resilience.int.spec.ts): a Nest microservice
// with the JetStream transport and the Postgres inbox whose handler inserts one row per event in
// the inbox transaction. Configured by environment variables; prints READY when consuming.
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { DataSource, type EntityManager } from 'typeorm';
import { CaseClosed, type AnyKoaEvent } from '@koa/contracts';
import { PgInboxStore } from '../../../persistence/src/inbox';
import { JetStreamTransport, KoaEventContext, KoaEventExceptionFilter, Messaging } from '../index';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`missing ${k}`);
  return v;
};

async function main(): Promise<void> {
  const schema = env('CRASH_SCHEMA');
  const messaging = await Messaging.connect({ url: env('NATS_URL'), name: 'crash-worker' });
  const ds = new DataSource({ type: 'postgres', url: env('DATABASE_URL'), poolSize: 4 });
  await ds.initialize();
  const inbox = new PgInboxStore(ds, schema);
  await inbox.ensureSchema();

  @Controller()
  class Handlers {
    @EventPattern(CaseClosed.type)
    async onClosed(@Payload() event: AnyKoaEvent, @Ctx() ctx: KoaEventContext): Promise<void> {
      await (ctx.tx as EntityManager).query(`INSERT INTO "${schema}".processed (event_id) VALUES ($1)`, [event.id]);
      await new Promise((r) => setTimeout(r, 1)); // widen the window between commit and ack
    }
  }
  @Module({ controllers: [Handlers] })
  class WorkerModule {}

  const app = await NestFactory.createMicroservice(WorkerModule, {
    strategy: new JetStreamTransport({
      messaging,
      serviceName: 'crash-worker',
      consumers: [{ durable: env('CRASH_DURABLE'), filterSubject: env('CRASH_FILTER'), ackWaitMs: 1500, ...(process.env['CRASH_BATCH'] && { batch: Number(process.env['CRASH_BATCH']) }) }],
      inbox,
    }),
    logger: ['error'],
  });
  app.useGlobalFilters(new KoaEventExceptionFilter());
  await app.listen();
  process.stdout.write('READY\n');
}

main().catch((e) => {
  process.stderr.write(`crash-worker failed: ${(e as Error)?.stack ?? e}\n`);
  process.exit(1);
});
