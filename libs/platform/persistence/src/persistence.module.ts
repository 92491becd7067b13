import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { KoaRefusal } from '@koa/contracts';
import { dataSourceOptions, initializeDataSource, runMigrations, type EntityList, type Migration } from './database';

export interface PersistenceModuleOptions {
  /** `DATABASE_URL`; defaults to `process.env.DATABASE_URL` (refused with `CONFIG_INVALID` if absent). */
  readonly url?: string;
  /** The service schema (`ingest`, `orgo`, `pipeline`, `release`, `ledger`). */
  readonly schema: string;
  /** Entities of the service; feature modules may also add theirs with `TypeOrmModule.forFeature`. */
  readonly entities?: EntityList;
  readonly migrations?: readonly Migration[];
  readonly applicationName?: string;
}

/**
 * The Nest side of persistence: one TypeORM DataSource per service, over its own schema.
 *
 * At boot it connects (failing fast with `DATABASE_UNAVAILABLE`, no retry loop), creates the schema
 * and applies the service's migrations under an advisory lock (see `runMigrations`), with every
 * connection's `search_path` set to the schema. Inject the `DataSource` (or `@InjectDataSource()`),
 * or register entities with `TypeOrmModule.forFeature([...])` and use `@InjectRepository(Entity)`.
 *
 * ```ts
 * @Module({ imports: [PersistenceModule.forRoot({ schema: 'ledger', entities: [LedgerEntry], migrations: LEDGER_MIGRATIONS })] })
 * ```
 */
@Module({})
export class PersistenceModule {
  static forRoot(options: PersistenceModuleOptions): DynamicModule {
    return {
      module: PersistenceModule,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => {
            const url = options.url ?? process.env['DATABASE_URL'];
            if (!url) throw new KoaRefusal('CONFIG_INVALID', 'configuration refused: DATABASE_URL is missing (required)', { variables: ['DATABASE_URL'] });
            return {
              ...dataSourceOptions({ url, schema: options.schema, entities: options.entities, applicationName: options.applicationName }),
              autoLoadEntities: true,
              // fail fast: the process exits and its supervisor restarts it, rather than hanging in a retry loop
              toRetry: () => false,
            };
          },
          dataSourceFactory: async (dsOptions?: DataSourceOptions) => {
            if (!dsOptions) throw new KoaRefusal('CONFIG_INVALID', 'persistence: no DataSource options');
            const url = (dsOptions as { url?: string }).url ?? '';
            const ds = await initializeDataSource(new DataSource(dsOptions), url);
            try {
              await runMigrations(ds, options.schema, options.migrations ?? []);
            } catch (e) {
              await ds.destroy().catch(() => undefined);
              throw e;
            }
            return ds;
          },
        }),
      ],
      exports: [TypeOrmModule],
    };
  }
}
