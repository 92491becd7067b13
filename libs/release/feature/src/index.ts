export * from './release-feature.module';
