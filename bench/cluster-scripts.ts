// bench/cluster-scripts: what cluster mode itself costs a Lua script, apart from how the load spreads. The same
// script (six hashes of one hash tag, an HSET and an HGET each) is run by redis-benchmark (200,000 calls, 32
// connections) on one Redis, on one Redis with a replica, and on the master of a 3-master cluster that owns the tag;
// Redis's own `usec_per_call` for EVAL is printed per run. Not a test: copy the figures into docs/benchmarks.md.
//
//   pnpm bench:cluster-scripts [--rounds 3]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRedisCluster, startRedisServer } from '@toolplane/embedded';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const script =
  "for i=1,#KEYS do redis.call('hset', KEYS[i], 'f', ARGV[1]); redis.call('hget', KEYS[i], 'f') end return 1";
const keys = Array.from({ length: 6 }, (_, i) => `{bench}:k${i}`);

const cli = (port: number, ...args: string[]) =>
  execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });

/** EVAL's microseconds per call on the Redis at `port` over one redis-benchmark run. */
function usecPerEval(port: number): number {
  cli(port, 'CONFIG', 'RESETSTAT');
  execFileSync(
    'redis-benchmark',
    ['-p', String(port), '-n', '200000', '-c', '32', '-q', 'EVAL', script, '6', ...keys, 'v'],
    {
      stdio: 'ignore',
    },
  );
  return Number(/cmdstat_eval:.*usec_per_call=([\d.]+)/.exec(cli(port, 'INFO', 'commandstats'))?.[1]);
}

const scratch = mkdtempSync(join(tmpdir(), 'toolplane-cluster-scripts-'));
const [single, primary, replica, cluster] = await Promise.all([
  startRedisServer(),
  // Replication's full sync writes RDB files in their directories (the working directory otherwise).
  startRedisServer({ dir: join(scratch, 'primary') }),
  startRedisServer({ dir: join(scratch, 'replica') }),
  startRedisCluster(),
]);
try {
  cli(replica.port, 'REPLICAOF', '127.0.0.1', String(primary.port));
  while (!/master_link_status:up/.test(cli(replica.port, 'INFO', 'replication')))
    await new Promise((r) => setTimeout(r, 100));
  const master = await cluster.masterOf(keys[0]!);
  const rows: Record<string, number[]> = { 'one Redis': [], 'one Redis with a replica': [], 'a cluster master': [] };
  for (let r = 0; r < Number(values.rounds); r++) {
    rows['one Redis']!.push(usecPerEval(single.port));
    rows['one Redis with a replica']!.push(usecPerEval(primary.port));
    rows['a cluster master']!.push(usecPerEval(master));
  }
  for (const [name, runs] of Object.entries(rows))
    console.log(`${name}: ${runs.map((u) => u.toFixed(2)).join(' / ')} µs per EVAL`);
} finally {
  await Promise.all([single.stop(), primary.stop(), replica.stop(), cluster.stop()]);
  rmSync(scratch, { recursive: true, force: true });
}
