export { createRedisClient, type RedisClient } from './client.ts';
export { connectRedis, RedisConfigError } from './connect.ts';
export { RedisEnv, type RedisConnection } from './env.ts';
