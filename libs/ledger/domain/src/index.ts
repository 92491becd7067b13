export * from './chain';
export * from './checkpoint';
export * from './projections';
export * from './what-happened';
export * from './render';
