export * from './postgres.ts';
export * from './redis-server.ts';
