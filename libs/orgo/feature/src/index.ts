export * from './orgo-feature.module';
