export * from './moto.ts';
export * from './postgres.ts';
export * from './redis-server.ts';
