import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { BuildFailed, CaseClosed, CaseOpened, PackCompiled, ReleaseActivated, ReleaseRefused, TaskCompleted, TaskRequested } from '@koa/contracts';
import { CaseReadModel } from '@koa/orgo/data-access';
import type { CaseEvent, OutcomeEvent } from '@koa/orgo/domain';
import { KoaEventContext, KoaEventExceptionFilter } from '@koa/platform/messaging';
import type { EntityManager } from '@koa/platform/persistence';
import { CaseService } from './case.service';

/**
 * The durable consumers of orgo-control, one per aggregate it reads (nats-server 2.9: one filter
 * per consumer), so that an outcome never waits behind the read model's transactions:
 * - `cases` (`koa.evt.*.case.*`): the four Case events ⇒ the `orgo.cases` read model;
 * - `builds` (`koa.evt.*.build.*`): PackCompiled, BuildFailed ⇒ recorded on their Case;
 * - `releases` (`koa.evt.*.release.*`): ReleaseActivated, ReleaseRefused ⇒ recorded on their Case.
 * (Until issue 4 this was ONE durable `orgo-control` on `koa.evt.>`; docs/decisions.md.)
 */
export const ORGO_DURABLES = { cases: 'orgo-control-cases', builds: 'orgo-control-builds', releases: 'orgo-control-releases' } as const;

/**
 * Event side of orgo-control, each durable in stream order:
 * - build and release outcomes (PackCompiled, BuildFailed, ReleaseActivated, ReleaseRefused) are
 *   recorded on their Case (`CaseService.recordOutcome`, which reads the Case from the event log);
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
