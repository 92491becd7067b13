import { BaseRpcContext } from '@nestjs/microservices';
import type { AnyKoaEvent } from '@koa/contracts';
import type { RawMessage } from './messaging';

/**
 * What an `@EventPattern` handler receives as its context (2nd argument, via `@Ctx()`).
 *
 * ```ts
 * @EventPattern(CaseOpened.type)
 * async onCaseOpened(@Payload() event: EventOf<typeof CaseOpened>, @Ctx() ctx: KoaEventContext) {
 *   const em = ctx.tx as EntityManager; // with PgInboxStore: the inbox transaction
 *   ...
 * }
 * ```
 */
export class KoaEventContext extends BaseRpcContext<[RawMessage, AnyKoaEvent | undefined]> {
  /** @internal the inbox transaction handle, set by the transport */
  private _tx: unknown;

  constructor(
    /** the durable consumer name */
    readonly consumer: string,
    /** the delivered message (subject, stream seq, bytes, headers) */
    readonly raw: RawMessage,
    /** the validated event (kind 'event' consumers); undefined for kind 'raw' */
    readonly event: AnyKoaEvent | undefined,
    /** 1 on first delivery, 2 on the first redelivery, ... */
    readonly deliveryCount: number,
    private readonly onWorking: () => void,
  ) {
    super([raw, event]);
  }

  /**
   * The transaction handle of the inbox store the transport runs the handler in (a TypeORM
   * `EntityManager` with the Postgres inbox), or undefined without an inbox. Write your read
   * model through it so the writes commit atomically with the inbox record.
   */
  get tx(): unknown {
    return this._tx;
  }

  /** @internal */
  setTx(tx: unknown): void {
    this._tx = tx;
  }

  /** Extends the ack deadline (`ack_wait`) of this delivery: call it periodically in long handlers. */
  working(): void {
    this.onWorking();
  }
}
