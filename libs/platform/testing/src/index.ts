export { PrivateNatsServer, freePort, type NatsServerOptions } from './nats-server';
export { createThrowAwayDatabase, testPgAdminUrl, type ThrowAwayDatabase } from './postgres';
export { eventually, uniqueName } from './eventually';
export { PrivatePostgres, postgresBinDir, type PrivatePostgresOptions } from './private-postgres';
