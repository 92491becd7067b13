import type { BaseServiceConfig } from './config';

/**
 * Injection tokens every service module can inject (provided globally by `bootstrapService` /
 * `createServiceApp`):
 *
 * ```ts
 * constructor(
 *   @Inject(MESSAGING) private readonly messaging: Messaging,
 *   @Inject(SERVICE_CONFIG) private readonly config: IngestConfig,
 *   @Inject(CLOCK) private readonly clock: Clock,
 *   @Inject(ID_FACTORY) private readonly ids: IdFactory,
 * ) {}
 * ```
 *
 * `MESSAGING` is re-exported from `@koa/platform/messaging` (the connected `Messaging`).
 */
export const SERVICE_CONFIG = Symbol.for('koa.service.config');
/** The wall clock, injected so that time enters domain code as data (tests bind a frozen clock). */
export const CLOCK = Symbol.for('koa.service.clock');
/** Id source for events, Cases, builds… (random UUIDs in production; deterministic in tests). */
export const ID_FACTORY = Symbol.for('koa.service.id-factory');
/** The service's name (`ingest-gateway`, …) as a string. */
export const SERVICE_NAME = Symbol.for('koa.service.name');

/** Source of the current time. */
export interface Clock {
  now(): Date;
}

/** Source of fresh unique ids. */
export interface IdFactory {
  next(): string;
}

/** What `SERVICE_CONFIG` resolves to: the validated configuration (base fields plus the service's own). */
export type ServiceConfig<T extends BaseServiceConfig = BaseServiceConfig> = Readonly<T>;

export const systemClock: Clock = { now: () => new Date() };
