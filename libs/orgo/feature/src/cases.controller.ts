import type { IncomingMessage } from 'node:http';
import { Body, Controller, Get, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { assertToken } from '@koa/contracts';
import { parseOperatorTrigger, type CaseView } from '@koa/orgo/domain';
import { CLOCK, type Clock } from '@koa/platform/service';
import { CaseService } from './case.service';

interface StatusResponse {
  status(code: number): unknown;
  setHeader(name: string, value: string): unknown;
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The operator API of orgo-control (docs/governed-work.md). */
@Controller('v1/tenants/:tenant/cases')
export class CasesController {
  constructor(
    private readonly cases: CaseService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * Operator trigger: body `{ snapshotSetRoot, env, channel, reason }`, headers `Idempotency-Key`
   * and `X-Koa-Actor: user:<id>`. 201 with the new Case; 200 with the existing Case (and
   * `Idempotent-Replayed: true`) when the same request is retried; 409 IDEMPOTENCY_KEY_REUSED
   * when the key was used for a different request.
   */
  @Post()
  async trigger(@Param('tenant') tenant: string, @Body() body: unknown, @Req() req: IncomingMessage, @Res({ passthrough: true }) res: StatusResponse): Promise<CaseView> {
    const traceparent = header(req, 'traceparent');
    const trigger = parseOperatorTrigger({
      tenant,
      idempotencyKey: header(req, 'idempotency-key'),
      actor: header(req, 'x-koa-actor'),
      body,
      receivedAt: this.clock.now().toISOString(),
      origin: { address: req.socket?.remoteAddress, userAgent: header(req, 'user-agent') },
      ...(traceparent && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(traceparent) && { traceparent }),
    });
    const result = await this.cases.trigger(trigger);
    res.status(result.created ? 201 : 200);
    if (!result.created) res.setHeader('Idempotent-Replayed', 'true');
    res.setHeader('Location', `/v1/tenants/${tenant}/cases/${result.view.caseId}`);
    return result.view;
  }

  /** One Case, folded from its events (strongly consistent). */
  @Get(':caseId')
  get(@Param('tenant') tenant: string, @Param('caseId') caseId: string): Promise<CaseView> {
    assertToken('tenant', tenant);
    assertToken('id', caseId);
    return this.cases.get(tenant, caseId);
  }

  /** The tenant's Cases from the read model, newest first: `?status=open|closed&limit=&before=`. */
  @Get()
  async list(@Param('tenant') tenant: string, @Query('status') status?: string, @Query('limit') limit?: string, @Query('before') before?: string): Promise<{ items: CaseView[] }> {
    assertToken('tenant', tenant);
    const items = await this.cases.list(tenant, {
      ...(status !== undefined && { status: status as 'open' | 'closed' }),
      ...(limit !== undefined && { limit: Number(limit) }),
      ...(before !== undefined && { before }),
    });
    return { items };
  }
}
