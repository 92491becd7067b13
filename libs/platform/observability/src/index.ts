export { KoaLogger, createLogger, type CreateLoggerOptions, type LogFields, type NestLogLevel, type KoaLogLevel } from './logger';
export { startTelemetry, shutdownTelemetry, type TelemetryMode } from './telemetry';
