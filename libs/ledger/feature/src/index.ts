export * from './ledger-feature.module';
