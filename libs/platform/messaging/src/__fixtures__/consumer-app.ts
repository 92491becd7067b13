import 'reflect-metadata';
import { Controller, Inject, Module, type INestMicroservice, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { CaseClosed, STREAMS, subjects, type AnyKoaEvent } from '@koa/contracts';
import { eventually } from '@koa/platform/testing';
import { JetStreamTransport, KoaEventContext, KoaEventExceptionFilter, type ConsumerSpec, type InboxStore } from '../index';
import type { Messaging, RawMessage } from '../messaging';

/** What a consumer app's handler is given: the event (or, for a raw consumer, the bytes) and its context. */
export type ConsumerHandler<P = AnyKoaEvent> = (payload: P, ctx: KoaEventContext) => Promise<void> | void;

export interface ConsumerAppOptions<P = AnyKoaEvent> {
  readonly serviceName: string;
  readonly consumers: ConsumerSpec[];
  readonly inbox?: InboxStore;
  /** called for every message of the `patterns` */
  readonly handler: ConsumerHandler<P>;
  /** the `@EventPattern`s the handler serves: event types, or a raw consumer's durable; default `[CaseClosed.type]` */
  readonly patterns?: readonly string[];
  /** Nest's log levels; default `['error']` */
  readonly logger?: LogLevel[];
  /** `useGlobalFilters(new KoaEventExceptionFilter())`; default true (false: see how Nest masks refusals) */
  readonly filter?: boolean;
}

const HANDLER = Symbol('HANDLER');

/**
 * A Nest microservice over the `JetStreamTransport` whose one controller hands every message of
 * `o.patterns` to `o.handler` — created, not yet listening (`startConsumerApp` also listens).
 */
export async function createConsumerApp<P = AnyKoaEvent>(messaging: Messaging, o: ConsumerAppOptions<P>): Promise<INestMicroservice> {
  @Controller()
  class Handlers {
    constructor(@Inject(HANDLER) private readonly handler: { current: ConsumerHandler<P> }) {}

    @EventPattern([...(o.patterns ?? [CaseClosed.type])])
    async on(@Payload() payload: P, @Ctx() ctx: KoaEventContext): Promise<void> {
      await this.handler.current(payload, ctx);
    }
  }
  @Module({ controllers: [Handlers], providers: [{ provide: HANDLER, useValue: { current: o.handler } }] })
  class ConsumerAppModule {}
  const app = await NestFactory.createMicroservice(ConsumerAppModule, {
    strategy: new JetStreamTransport({ messaging, serviceName: o.serviceName, inbox: o.inbox, consumers: o.consumers }),
    logger: o.logger ?? ['error'],
  });
  if (o.filter !== false) app.useGlobalFilters(new KoaEventExceptionFilter());
  return app;
}

/** `createConsumerApp`, listening, and in `env.apps` (closed with the env). */
export async function startConsumerApp<P = AnyKoaEvent>(env: { readonly messaging: Messaging; readonly apps: INestMicroservice[] }, o: ConsumerAppOptions<P>): Promise<INestMicroservice> {
  const app = await createConsumerApp(env.messaging, o);
  await app.listen();
  env.apps.push(app);
  return app;
}

/** Waits until the durable on the events stream has nothing pending and nothing unacked; its info then. */
export function consumerDrained(messaging: Messaging, durable: string) {
  return eventually(async () => {
    const i = await messaging.jsm.consumers.info(STREAMS.events.name, durable);
    if (i.num_pending !== 0 || i.num_ack_pending !== 0) throw new Error(`pending ${i.num_pending}, ack pending ${i.num_ack_pending}`);
    return i;
  }, { what: 'consumer drained' });
}

/** Waits for the durable's (last) dead-letter record. */
export function deadLetterRecord(messaging: Messaging, durable: string): Promise<RawMessage> {
  return eventually(async () => {
    const r = await messaging.lastMessage(STREAMS.deadLetters.name, subjects.deadLetter(durable));
    if (!r) throw new Error('no dead-letter record yet');
    return r;
  }, { what: 'dead-letter record' });
}

/** What one handler call saw. */
export interface Call {
  readonly id: string;
  readonly seq: number;
  readonly deliveryCount: number;
  /** the inbox transaction handle: equal for the messages of one batch (or lane) */
  readonly tx: unknown;
}
export const callOf = (event: AnyKoaEvent, ctx: KoaEventContext): Call => ({ id: event.id, seq: ctx.raw.seq, deliveryCount: ctx.deliveryCount, tx: ctx.tx });
