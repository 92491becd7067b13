import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { BuildFailed, CaseClosed, CaseOpened, PackCompiled, ReleaseActivated, ReleaseRefused, TaskCompleted, TaskRequested } from '@koa/contracts';
import { CaseReadModel } from '@koa/orgo/data-access';
import type { CaseEvent, OutcomeEvent } from '@koa/orgo/domain';
import { KoaEventContext, KoaEventExceptionFilter } from '@koa/platform/messaging';
import type { EntityManager } from '@koa/platform/persistence';
import { CaseService } from './case.service';

/** The one durable consumer of orgo-control (nats-server 2.9: one filter per consumer ⇒ `koa.evt.>`). */
export const ORGO_DURABLE = 'orgo-control';

/**
 * Event side of orgo-control, in stream order:
 * - build and release outcomes (PackCompiled, BuildFailed, ReleaseActivated, ReleaseRefused) are
 *   recorded on their Case (`CaseService.recordOutcome`);
 * - Case events feed the `orgo.cases` read model inside the inbox transaction.
 * Every other event type has no handler and is acked by the transport.
 */
@Controller()
@UseFilters(KoaEventExceptionFilter)
export class OrgoEventsController {
  constructor(
    private readonly cases: CaseService,
    private readonly readModel: CaseReadModel,
  ) {}

  @EventPattern(PackCompiled.type)
  onPackCompiled(@Payload() event: OutcomeEvent): Promise<unknown> {
    return this.cases.recordOutcome(event);
  }

  @EventPattern(BuildFailed.type)
  onBuildFailed(@Payload() event: OutcomeEvent): Promise<unknown> {
    return this.cases.recordOutcome(event);
  }

  @EventPattern(ReleaseActivated.type)
  onReleaseActivated(@Payload() event: OutcomeEvent): Promise<unknown> {
    return this.cases.recordOutcome(event);
  }

  @EventPattern(ReleaseRefused.type)
  onReleaseRefused(@Payload() event: OutcomeEvent): Promise<unknown> {
    return this.cases.recordOutcome(event);
  }

  @EventPattern(CaseOpened.type)
  onCaseOpened(@Payload() event: CaseEvent, @Ctx() ctx: KoaEventContext): Promise<boolean> {
    return this.readModel.apply(event, ctx.tx as EntityManager | undefined);
  }

  @EventPattern(TaskRequested.type)
  onTaskRequested(@Payload() event: CaseEvent, @Ctx() ctx: KoaEventContext): Promise<boolean> {
    return this.readModel.apply(event, ctx.tx as EntityManager | undefined);
  }

  @EventPattern(TaskCompleted.type)
  onTaskCompleted(@Payload() event: CaseEvent, @Ctx() ctx: KoaEventContext): Promise<boolean> {
    return this.readModel.apply(event, ctx.tx as EntityManager | undefined);
  }

  @EventPattern(CaseClosed.type)
  onCaseClosed(@Payload() event: CaseEvent, @Ctx() ctx: KoaEventContext): Promise<boolean> {
    return this.readModel.apply(event, ctx.tx as EntityManager | undefined);
  }
}
