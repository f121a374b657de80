import { describe, expect, it } from '@jest/globals';
import { WorkerEnvChecked } from './env.ts';

function problems(env: Record<string, string>): string[] {
  const r = WorkerEnvChecked.safeParse(env);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('the worker env: queue shards', () => {
  it('reads every shard by default, or the listed ones', () => {
    const cluster = { REDIS_CLUSTER_NODES: 'redis://a:7000' };
    expect(WorkerEnvChecked.parse({ ...cluster, REDIS_QUEUE_SHARDS: '6' })).toMatchObject({
      REDIS_QUEUE_SHARDS: 6,
      WORKER_QUEUE_SHARDS: [],
    });
    expect(
      WorkerEnvChecked.parse({ ...cluster, REDIS_QUEUE_SHARDS: '6', WORKER_QUEUE_SHARDS: ' 4, 0,4 ' }),
    ).toMatchObject({ WORKER_QUEUE_SHARDS: [4, 0] });
    expect(WorkerEnvChecked.parse({ REDIS_URL: 'redis://a:6379' })).toMatchObject({ REDIS_QUEUE_SHARDS: 1 });
  });

  it('refuses shards without a cluster, shards that do not exist and a list that is not one', () => {
    expect(problems({ REDIS_URL: 'redis://a:6379', REDIS_QUEUE_SHARDS: '4' })).toEqual([
      expect.stringMatching(/^REDIS_QUEUE_SHARDS: .*needs REDIS_CLUSTER_NODES/),
    ]);
    const cluster = { REDIS_CLUSTER_NODES: 'redis://a:7000', REDIS_QUEUE_SHARDS: '4' };
    expect(problems({ ...cluster, WORKER_QUEUE_SHARDS: '1,4,7' })).toEqual([
      'WORKER_QUEUE_SHARDS: shard 4, 7 does not exist: REDIS_QUEUE_SHARDS is 4 (shards 0 to 3)',
    ]);
    expect(problems({ ...cluster, WORKER_QUEUE_SHARDS: 'a,b' })).toEqual([
      'WORKER_QUEUE_SHARDS: comma-separated shard indexes, e.g. 0,2',
    ]);
  });
});

describe('the worker env: the record-arguments public key', () => {
  it('takes it as a file or as text, not both', () => {
    const base = { REDIS_URL: 'redis://a:6379' };
    expect(problems({ ...base, RECORD_ARGUMENTS_PUBLIC_KEY: 'MCowBQYDK2VuAyEA' })).toEqual([]);
    expect(problems({ ...base, RECORD_ARGUMENTS_PUBLIC_KEY_FILE: '/k.pem' })).toEqual([]);
    expect(
      problems({
        ...base,
        RECORD_ARGUMENTS_PUBLIC_KEY: 'MCowBQYDK2VuAyEA',
        RECORD_ARGUMENTS_PUBLIC_KEY_FILE: '/k.pem',
      }),
    ).toEqual([
      'RECORD_ARGUMENTS_PUBLIC_KEY: set RECORD_ARGUMENTS_PUBLIC_KEY or RECORD_ARGUMENTS_PUBLIC_KEY_FILE, not both',
    ]);
  });
});
