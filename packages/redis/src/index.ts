export { createRedisClient, type RedisClient } from './client.ts';
export { checkRedisForm, connectRedis, RedisConfigError } from './connect.ts';
export { checkRedisEnv, redisConnectionOf, RedisEnv, redisEnvShape, type RedisConnection } from './env.ts';
