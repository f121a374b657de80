export { createRedisClient, type RedisClient } from './client.ts';
export { checkRedisForm, connectRedis, RedisConfigError } from './connect.ts';
export {
  checkQueueShards,
  checkRedisEnv,
  queueShardsShape,
  redisConnectionOf,
  RedisEnv,
  redisEnvShape,
  type RedisConnection,
} from './env.ts';
