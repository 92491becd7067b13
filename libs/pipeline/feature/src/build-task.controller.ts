import { Controller, Inject, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { TaskRequested, type EventOf } from '@koa/contracts';
import { KoaEventContext, KoaEventExceptionFilter } from '@koa/platform/messaging';
import { PipelineWorker } from './pipeline-worker';

/**
 * Event handler of pipeline-worker, served by the JetStream transport on the durable
 * `pipeline-worker` (filter `koa.evt.*.case.*`): `TaskRequested` with `params.kind === 'build'`
 * runs a build; release tasks and other Case events are acknowledged untouched. A failed build is
 * an event (`BuildFailed`), not an error; the handler throws only for transient trouble (nak and
 * retry with backoff) or a malformed input (dead-lettered with its code).
 */
@Controller()
@UseFilters(KoaEventExceptionFilter)
export class BuildTaskController {
  constructor(@Inject(PipelineWorker) private readonly worker: PipelineWorker) {}

  @EventPattern(TaskRequested.type)
  async onTaskRequested(@Payload() event: EventOf<typeof TaskRequested>, @Ctx() ctx: KoaEventContext): Promise<void> {
    await this.worker.handleTask(event, () => ctx.working());
  }
}
