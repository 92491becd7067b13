import { Controller, Get, HttpCode, Inject, Module, Res } from '@nestjs/common';
import { MESSAGING, type Messaging } from '@koa/platform/messaging';
import { DataSource, checkDatabase } from '@koa/platform/persistence';

/** Body of `GET /health/ready`. */
export interface ReadinessReport {
  readonly status: 'ok' | 'unavailable';
  readonly checks: { readonly nats: 'up' | 'down'; readonly database: 'up' | 'down' };
  /** Names of the failed checks (only when unavailable). */
  readonly down?: readonly string[];
}

const PROBE_TIMEOUT_MS = 1000;

async function natsUp(messaging: Messaging): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
    });
    return await Promise.race([messaging.ping(PROBE_TIMEOUT_MS).then((ok: boolean) => ok), timeout]);
  } catch {
    return false;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

interface StatusResponse {
  status(code: number): unknown;
}

/**
 * - `GET /health/live` ⇒ 200 `{ status: 'ok' }` while the process runs (restart it otherwise).
 * - `GET /health/ready` ⇒ 200 `{ status: 'ok', checks: { nats: 'up', database: 'up' } }`, or 503
 *   `{ status: 'unavailable', checks: { nats: 'down', … }, down: ['nats'] }` (take it out of
 *   rotation; it recovers by itself when the dependency does). Each probe is bounded to 1 s.
 */
@Controller('health')
export class HealthController {
  constructor(
    @Inject(MESSAGING) private readonly messaging: Messaging,
    private readonly dataSource: DataSource,
  ) {}

  @Get('live')
  @HttpCode(200)
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(@Res({ passthrough: true }) res: StatusResponse): Promise<ReadinessReport> {
    const [nats, database] = await Promise.all([natsUp(this.messaging), checkDatabase(this.dataSource, PROBE_TIMEOUT_MS)]);
    const checks = { nats: nats ? 'up' : 'down', database: database ? 'up' : 'down' } as const;
    const down = Object.entries(checks).filter(([, v]) => v === 'down').map(([k]) => k);
    if (down.length === 0) {
      res.status(200);
      return { status: 'ok', checks };
    }
    res.status(503);
    return { status: 'unavailable', checks, down };
  }
}

/** Liveness and readiness endpoints (imported by every service root module). */
@Module({ controllers: [HealthController] })
export class HealthModule {}
