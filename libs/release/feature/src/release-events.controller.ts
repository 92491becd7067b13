import { Controller, Inject, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { ReleaseActivated, TaskRequested, type EventOf } from '@koa/contracts';
import { KoaEventContext, KoaEventExceptionFilter } from '@koa/platform/messaging';
import type { EntityManager } from '@koa/platform/persistence';
import { ChannelReadModel } from '@koa/release/data-access';
import { ReleaseProcess } from './release-process';

/**
 * Event handlers of konnaxion-release (served by the JetStream transport):
 * - durable `konnaxion-release` (Case events): `TaskRequested` with `params.kind === 'release'`
 *   runs the {@link ReleaseProcess}; build tasks and other Case events are acknowledged untouched;
 * - durable `konnaxion-release-channels` (release events): `ReleaseActivated` is projected into
 *   the `release.channels` read model, in the consumer's inbox transaction.
 * Refusals are events (`ReleaseRefused`), not errors: a handler only throws for transient trouble
 * (retried with backoff) or a malformed input (dead-lettered with its code).
 */
@Controller()
@UseFilters(KoaEventExceptionFilter)
export class ReleaseEventsController {
  constructor(
    @Inject(ReleaseProcess) private readonly process: ReleaseProcess,
    @Inject(ChannelReadModel) private readonly channels: ChannelReadModel,
  ) {}

  @EventPattern(TaskRequested.type)
  async onTaskRequested(@Payload() event: EventOf<typeof TaskRequested>, @Ctx() ctx: KoaEventContext): Promise<void> {
    await this.process.handleTask(event, () => ctx.working());
  }

  @EventPattern(ReleaseActivated.type)
  async onReleaseActivated(@Payload() event: EventOf<typeof ReleaseActivated>, @Ctx() ctx: KoaEventContext): Promise<void> {
    await this.channels.apply(event, ctx.tx as EntityManager | undefined);
  }
}
