export {
  openDataSource,
  runMigrations,
  checkDatabase,
  initializeDataSource,
  dataSourceOptions,
  describeDatabaseUrl,
  assertSchemaName,
  type Migration,
  type EntityList,
  type OpenDataSourceOptions,
} from './database';
export { PersistenceModule, type PersistenceModuleOptions } from './persistence.module';
// Re-exported so that Nest code outside data-access libs can inject what persistence provides
// without importing TypeORM itself (entities still live in each service's data-access lib).
export { TypeOrmModule, InjectRepository, InjectDataSource, InjectEntityManager, getRepositoryToken, getDataSourceToken } from '@nestjs/typeorm';
export {
  DataSource,
  EntityManager,
  Repository,
  Entity,
  Column,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  Index,
  CreateDateColumn,
  UpdateDateColumn,
  type QueryRunner,
} from 'typeorm';
export * from './inbox';
