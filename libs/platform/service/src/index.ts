export { baseConfigSchema, loadConfig, LOG_LEVELS, type BaseServiceConfig, type ServiceConfigSchema, type LogLevelName } from './config';
export { SERVICE_CONFIG, SERVICE_NAME, CLOCK, ID_FACTORY, systemClock, type Clock, type IdFactory, type ServiceConfig } from './tokens';
export { MESSAGING } from '@koa/platform/messaging';
export {
  bootstrapService,
  createServiceApp,
  redactUrl,
  SHUTDOWN_TIMEOUT_MS,
  type ServiceDefinition,
  type ServiceAppOptions,
  type ServiceApp,
} from './bootstrap';
export { HealthModule, HealthController, type ReadinessReport } from './health';
export { ProblemDetailsFilter, toProblem, PROBLEM_TYPE_BASE, type ProblemDocument } from './problem-details.filter';
