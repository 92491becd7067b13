import { randomUUID } from 'node:crypto';
import { Global, Module, type DynamicModule, type INestApplication, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { KoaRefusal, isKoaRefusal } from '@koa/contracts';
import { JetStreamTransport, MESSAGING, Messaging, type ConsumerSpec } from '@koa/platform/messaging';
import { DataSource, PersistenceModule, PgInboxStore, type EntityList, type Migration } from '@koa/platform/persistence';
import { createLogger, shutdownTelemetry, startTelemetry, type KoaLogger } from '@koa/platform/observability';
import { baseConfigSchema, loadConfig, type BaseServiceConfig, type ServiceConfigSchema } from './config';
import { HealthModule } from './health';
import { ProblemDetailsFilter } from './problem-details.filter';
import { CLOCK, ID_FACTORY, SERVICE_CONFIG, SERVICE_NAME, systemClock, type Clock, type IdFactory } from './tokens';

/** What a service declares to be booted (its app's `main.ts` passes these). */
export interface ServiceDefinition<T extends BaseServiceConfig = BaseServiceConfig> {
  /** Service name: `ingest-gateway`, `orgo-control`, `pipeline-worker`, `konnaxion-release`, `audit-ledger`. */
  readonly name: string;
  /** The service's config schema (extends `baseConfigSchema`); default `baseConfigSchema`. */
  readonly schema?: ServiceConfigSchema<T>;
  /** The service's feature module (controllers, event handlers, providers). */
  readonly module: Type<unknown> | DynamicModule;
  /** Durable JetStream consumers served by the service's `@EventPattern` handlers. */
  readonly consumers: readonly ConsumerSpec[];
  /** The service's own Postgres schema. */
  readonly dbSchema: string;
  readonly entities?: EntityList;
  readonly migrations?: readonly Migration[];
  /** `HTTP_PORT` when the environment does not set it. */
  readonly defaultHttpPort: number;
}

/** Test seams for {@link createServiceApp} (production uses the defaults). */
export interface ServiceAppOptions {
  /** Environment to read configuration from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly clock?: Clock;
  readonly ids?: IdFactory;
  readonly logger?: KoaLogger;
  /** Give up connecting to NATS after this long (default 5000 ms). */
  readonly natsConnectTimeoutMs?: number;
}

/** A created (not yet listening) service. */
export interface ServiceApp<T extends BaseServiceConfig = BaseServiceConfig> {
  readonly app: INestApplication;
  readonly config: Readonly<T>;
  readonly messaging: Messaging;
  readonly logger: KoaLogger;
  /** Starts the JetStream transport, then HTTP; resolves to the base URL (`http://host:port`). */
  listen(): Promise<string>;
  /** Graceful stop: transport drains, HTTP stops, the DataSource closes, then NATS closes. */
  close(): Promise<void>;
}

/** `nats://user:pass@h:4222` ⇒ `nats://h:4222` (for logs and refusals). */
export function redactUrl(url: string): string {
  return url
    .split(',')
    .map((part) => {
      try {
        const u = new URL(part.trim());
        return `${u.protocol}//${u.host}`;
      } catch {
        return '(unparseable URL)';
      }
    })
    .join(',');
}

@Global()
@Module({})
class ServiceKernelModule {
  // The one @Global module: what every service module may inject (see tokens.ts).
  static forRoot(kernel: { name: string; config: BaseServiceConfig; messaging: Messaging; clock: Clock; ids: IdFactory }): DynamicModule {
    const providers = [
      { provide: SERVICE_NAME, useValue: kernel.name },
      { provide: SERVICE_CONFIG, useValue: Object.freeze({ ...kernel.config }) },
      { provide: MESSAGING, useValue: kernel.messaging },
      { provide: CLOCK, useValue: kernel.clock },
      { provide: ID_FACTORY, useValue: kernel.ids },
    ];
    return { module: ServiceKernelModule, providers, exports: providers.map((p) => p.provide) };
  }
}

@Module({})
class ServiceRootModule {
  static forService(def: ServiceDefinition<BaseServiceConfig>, kernel: Parameters<typeof ServiceKernelModule.forRoot>[0]): DynamicModule {
    return {
      module: ServiceRootModule,
      imports: [
        ServiceKernelModule.forRoot(kernel),
        PersistenceModule.forRoot({
          url: kernel.config.DATABASE_URL,
          schema: def.dbSchema,
          entities: def.entities,
          migrations: def.migrations,
          applicationName: `${def.name}/${kernel.config.SERVICE_INSTANCE}`.slice(0, 63),
        }),
        HealthModule,
        def.module,
      ],
    };
  }
}

/**
 * Builds a service without listening and without touching the process (no exit, no signal
 * handlers): loads the config, connects to NATS (`BROKER_UNAVAILABLE` naming `NATS_URL` on failure),
 * ensures the JetStream topology, creates the Nest app (DataSource + migrations, health, the feature
 * module, problem+json filter) and attaches the JetStream transport with a Postgres inbox in the
 * service schema. Throws `KoaRefusal` (`CONFIG_INVALID`, `BROKER_UNAVAILABLE`,
 * `DATABASE_UNAVAILABLE`) and releases whatever it had opened.
 */
export async function createServiceApp<T extends BaseServiceConfig>(def: ServiceDefinition<T>, options: ServiceAppOptions = {}): Promise<ServiceApp<T>> {
  const env = options.env ?? process.env;
  const schema = (def.schema ?? baseConfigSchema) as ServiceConfigSchema<T>;
  const config = loadConfig(schema, env, { HTTP_PORT: String(def.defaultHttpPort) });
  const logger = options.logger ?? createLogger(def.name, { level: config.LOG_LEVEL, base: { instance: config.SERVICE_INSTANCE } });

  let messaging: Messaging;
  try {
    messaging = await Messaging.connect({ url: config.NATS_URL, name: `${def.name}/${config.SERVICE_INSTANCE}`, connectTimeoutMs: options.natsConnectTimeoutMs ?? 5000 });
  } catch (e) {
    throw brokerRefusal(config.NATS_URL, e);
  }
  let app: INestApplication | undefined;
  try {
    try {
      await messaging.ensureTopology({ replicas: config.JETSTREAM_REPLICAS });
    } catch (e) {
      throw isKoaRefusal(e) && e.code !== 'BROKER_UNAVAILABLE' ? e : brokerRefusal(config.NATS_URL, e);
    }
    const kernel = { name: def.name, config, messaging, clock: options.clock ?? systemClock, ids: options.ids ?? { next: () => randomUUID() } };
    app = await NestFactory.create(ServiceRootModule.forService(def as ServiceDefinition<BaseServiceConfig>, kernel), {
      logger,
      abortOnError: false,
    });
    app.useGlobalFilters(new ProblemDetailsFilter());
    const httpAdapter = app.getHttpAdapter().getInstance() as { disable?: (setting: string) => void };
    httpAdapter.disable?.('x-powered-by');
    const inbox = new PgInboxStore(app.get(DataSource), def.dbSchema);
    await inbox.ensureSchema();
    // inheritAppConfig: the filter above also serves event handlers, passing their errors unchanged
    // to the transport's ack/nak/dead-letter policy (it must be registered before this call)
    app.connectMicroservice({ strategy: new JetStreamTransport({ messaging, serviceName: def.name, consumers: [...def.consumers], inbox }) }, { inheritAppConfig: true });
  } catch (e) {
    await app?.close().catch(() => undefined);
    await messaging.close().catch(() => undefined);
    throw e;
  }
  const created = app;
  let closing: Promise<void> | undefined;
  return {
    app: created,
    config,
    messaging,
    logger,
    async listen() {
      // module init hooks first, then consume events, then serve HTTP
      await created.init();
      await created.startAllMicroservices();
      await created.listen(config.HTTP_PORT, config.HTTP_HOST);
      const url = `http://${config.HTTP_HOST === '0.0.0.0' ? '127.0.0.1' : config.HTTP_HOST}:${config.HTTP_PORT}`;
      return url;
    },
    close() {
      closing ??= (async () => {
        try {
          await created.close();
        } finally {
          await messaging.close();
        }
      })();
      return closing;
    },
  };
}

function brokerRefusal(natsUrl: string, cause: unknown): KoaRefusal {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new KoaRefusal('BROKER_UNAVAILABLE', `NATS_URL ${redactUrl(natsUrl)} is unavailable: ${why}`, { variable: 'NATS_URL', target: redactUrl(natsUrl) }, { cause });
}

/** How long a graceful shutdown may take before the process exits with code 1 anyway. */
export const SHUTDOWN_TIMEOUT_MS = 15_000;

/**
 * The whole life of a service process (what `apps/<svc>/src/main.ts` calls):
 *
 * 1. load and validate config; on failure log ONE JSON line (`code: CONFIG_INVALID`, the message
 *    naming each bad variable) and exit 1 at once;
 * 2. `startTelemetry(name)` (OTEL_* variables);
 * 3. {@link createServiceApp} (NATS connect fails fast: `BROKER_UNAVAILABLE` naming `NATS_URL`,
 *    exit 1; database: `DATABASE_UNAVAILABLE`, exit 1);
 * 4. start the JetStream transport and HTTP; log `ready` with the port;
 * 5. on SIGTERM/SIGINT: close the app (transport drains, HTTP stops, DB and NATS close), flush
 *    telemetry, exit 0 (exit 1 if that fails or takes longer than {@link SHUTDOWN_TIMEOUT_MS}).
 *
 * ```ts
 * // apps/audit-ledger/src/main.ts
 * void bootstrapService({ name: 'audit-ledger', schema: LEDGER_CONFIG_SCHEMA, module: LedgerFeatureModule,
 *   consumers: LEDGER_CONSUMERS, dbSchema: LEDGER_DB_SCHEMA, entities: LEDGER_ENTITIES,
 *   migrations: LEDGER_MIGRATIONS, defaultHttpPort: 8085 });
 * ```
 */
export async function bootstrapService<T extends BaseServiceConfig>(def: ServiceDefinition<T>): Promise<void> {
  let logger = createLogger(def.name, { level: process.env['LOG_LEVEL'] });
  let service: ServiceApp<T> | undefined;
  const fail = (e: unknown, phase: string): never => {
    if (isKoaRefusal(e)) logger.fatal({ msg: e.message, code: e.code, details: e.details, phase }, 'Bootstrap');
    else logger.fatal({ msg: `${phase} failed`, code: 'INTERNAL', phase }, e instanceof Error ? e : String(e), 'Bootstrap');
    process.exit(1);
  };
  let config: T;
  try {
    config = loadConfig((def.schema ?? baseConfigSchema) as ServiceConfigSchema<T>, process.env, { HTTP_PORT: String(def.defaultHttpPort) });
  } catch (e) {
    return fail(e, 'config');
  }
  logger = createLogger(def.name, { level: config.LOG_LEVEL, base: { instance: config.SERVICE_INSTANCE } });
  const telemetry = startTelemetry(def.name);
  logger.log({ msg: 'starting', telemetry, natsUrl: redactUrl(config.NATS_URL) }, 'Bootstrap');

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.log({ msg: 'stopping', signal }, 'Bootstrap');
    const deadline = setTimeout(() => {
      logger.fatal({ msg: `shutdown did not finish within ${SHUTDOWN_TIMEOUT_MS} ms`, signal }, 'Bootstrap');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    void (async () => {
      try {
        await service?.close();
        await shutdownTelemetry();
        logger.log({ msg: 'stopped', signal }, 'Bootstrap');
        process.exit(0);
      } catch (e) {
        fail(e, 'shutdown');
      }
    })();
  };
  // Our own handlers rather than Nest's enableShutdownHooks: Nest re-raises the signal after
  // closing, which ends the process by signal instead of with exit code 0.
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  try {
    service = await createServiceApp(def, { logger });
    if (stopping) return;
    await service.listen();
    logger.log({ msg: 'ready', port: config.HTTP_PORT, host: config.HTTP_HOST, consumers: def.consumers.map((c) => c.durable) }, 'Bootstrap');
  } catch (e) {
    await service?.close().catch(() => undefined);
    fail(e, 'startup');
  }
}
