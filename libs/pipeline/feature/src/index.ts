export * from './pipeline-feature.module';
