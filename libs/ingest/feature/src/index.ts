export * from './ingest-feature.module';
