import { Controller, Get, Header, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { KoaRefusal } from '@koa/contracts';
import { renderCaseStory, renderReleaseStory } from '@koa/ledger/domain';
import { LedgerService } from './ledger.service';

interface TextResponse {
  setHeader(name: string, value: string): void;
  send(body: string): void;
}

function intParam(name: string, value: string | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  if (!/^\d{1,15}$/.test(value)) throw new KoaRefusal('REQUEST_INVALID', `query parameter ${name}=${JSON.stringify(value.slice(0, 40))} must be a non-negative integer`, { parameter: name });
  return Number(value);
}

function formatParam(value: string | undefined): 'json' | 'text' {
  if (value === undefined || value === 'json') return 'json';
  if (value === 'text') return 'text';
  throw new KoaRefusal('REQUEST_INVALID', `query parameter format=${JSON.stringify(value.slice(0, 40))} must be json or text`, { parameter: 'format' });
}

/**
 * "What happened" over HTTP (docs/audit-ledger.md §5). Refusals leave as problem+json
 * (RELEASE_NOT_FOUND / CASE_NOT_FOUND 404, SUBJECT_TOKEN_INVALID / REQUEST_INVALID 400,
 * LEDGER_CHAIN_BROKEN 500 with `details.index`).
 */
@Controller()
export class LedgerHttpController {
  constructor(private readonly ledger: LedgerService) {}

  @Get('v1/tenants/:tenant/releases/:releaseId/what-happened')
  async release(@Param('tenant') tenant: string, @Param('releaseId') releaseId: string, @Query('format') format: string | undefined, @Res({ passthrough: true }) res: TextResponse) {
    const f = formatParam(format);
    const story = await this.ledger.releaseStory(tenant, releaseId);
    if (f === 'json') return story;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    return renderReleaseStory(story);
  }

  @Get('v1/tenants/:tenant/cases/:caseId/what-happened')
  async case(@Param('tenant') tenant: string, @Param('caseId') caseId: string, @Query('format') format: string | undefined, @Res({ passthrough: true }) res: TextResponse) {
    const f = formatParam(format);
    const story = await this.ledger.caseStory(tenant, caseId);
    if (f === 'json') return story;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    return renderCaseStory(story);
  }

  @Get('v1/ledger/verify')
  verify() {
    return this.ledger.verify();
  }

  @Get('v1/ledger/entries')
  entries(@Query('from') from: string | undefined, @Query('limit') limit: string | undefined, @Query('tenant') tenant: string | undefined) {
    return this.ledger.entries({ from: intParam('from', from, 0), limit: intParam('limit', limit, 100), ...(tenant !== undefined && { tenant }) });
  }

  @Get('v1/ledger/checkpoint')
  checkpoint() {
    return this.ledger.checkpoint();
  }

  @Get('v1/admin/projections')
  projections() {
    return this.ledger.projectionStatus();
  }

  @Post('v1/admin/projections/rebuild')
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  rebuild() {
    return this.ledger.rebuild();
  }
}
