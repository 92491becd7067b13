import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { EVENT_CATALOG, type AnyKoaEvent } from '@koa/contracts';
import type { KoaEventContext } from '@koa/platform/messaging';
import { LedgerService } from './ledger.service';

/** Every event type of the catalog: the ledger records them all. */
export const LEDGER_EVENT_TYPES: readonly string[] = EVENT_CATALOG.map((d) => d.type);

/** The ledger's consumer side: one handler registered for every catalog type. */
@Controller()
export class LedgerEventsController {
  constructor(private readonly ledger: LedgerService) {}

  @EventPattern([...LEDGER_EVENT_TYPES])
  async record(@Payload() event: AnyKoaEvent, @Ctx() ctx: KoaEventContext): Promise<void> {
    await this.ledger.record(event, ctx);
  }
}
