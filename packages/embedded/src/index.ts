export * from './moto.ts';
export * from './postgres.ts';
export * from './redis-server.ts';
export * from './redis-cluster.ts';
export * from './redis-sentinel.ts';
export * from './time-scale.ts';
