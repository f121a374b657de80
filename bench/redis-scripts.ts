// bench/redis-scripts: what each Lua script of the call path costs Redis per job, in isolation. Not a
// test: it prints what it measured; copy it into docs/benchmarks.md.
//
//   node --conditions=@toolplane/source bench/redis-scripts.ts [--jobs 20000] [--rounds 3] [--take 1]
//     [--finish-in-flight 1]
//
// A private redis-server and one request/reply queue as the stack has it (`queueStreams`: no event stream). Each
// round drives `--jobs` jobs through the three scripts, one phase after the other, 32 in flight: the edge's add
// (`JobAdder`: BullMQ's `addStandardJob`, the options `requestJobOptions`), the worker's take (`JobTaker`: BullMQ's
// `moveToActive` once per token, `--take` tokens per call) and the finish (`JobFinisher`: `finishJobsLua`, one job
// per call, or the `--finish-in-flight` finishes of one turn in one call). Per phase: Redis's CPU (`used_cpu_user` +
// `used_cpu_sys` of `INFO cpu`, so parsing and replies included), the EVALSHA time Redis reports
// (`INFO commandstats`, nested commands included) and the nested commands, each per job.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { startRedisServer } from '@toolplane/embedded';
import { Redis } from 'ioredis';
import { JobAdder } from '../packages/queue/src/job-adder.ts';
import { JobFinisher } from '../packages/queue/src/job-finisher.ts';
import { JobTaker } from '../packages/queue/src/job-taker.ts';
import { queueStreams } from '../packages/queue/src/reply-channel.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    take: { type: 'string', default: '1' },
    'finish-in-flight': { type: 'string', default: '1' },
  },
});
const jobs = Number(values.jobs);
const rounds = Number(values.rounds);
const takeSize = Number(values.take);
const inFlight = 32;
// Finishes in flight at once: those of one event-loop turn go in one script call (1: one job per call).
const finishInFlight = Number(values['finish-in-flight']);

// BullMQ as the queue package resolves it (the bench package does not depend on it).
const { Queue } = createRequire(new URL('../packages/queue/package.json', import.meta.url))('bullmq') as {
  Queue: new (name: string, opts: object) => ConstructorParameters<typeof JobAdder>[0];
};

const server = await startRedisServer();
const redis = new Redis(server.url, { maxRetriesPerRequest: null });
const stats = new Redis(server.url);

interface Sample {
  cpu: number;
  calls: Map<string, number>;
  usec: Map<string, number>;
}

async function sample(): Promise<Sample> {
  const cpuInfo = await stats.info('cpu');
  const cpu = Number(/used_cpu_user:([\d.]+)/.exec(cpuInfo)![1]) + Number(/used_cpu_sys:([\d.]+)/.exec(cpuInfo)![1]);
  const calls = new Map<string, number>();
  const usec = new Map<string, number>();
  for (const m of (await stats.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    calls.set(m[1]!, Number(m[2]));
    usec.set(m[1]!, Number(m[3]));
  }
  return { cpu, calls, usec };
}

/** Per job between two samples: Redis CPU µs, EVALSHA µs, and each nested command's calls (`info` left out). */
function perJob(a: Sample, b: Sample) {
  const nested: Record<string, number> = {};
  for (const [k, v] of b.calls) {
    const d = v - (a.calls.get(k) ?? 0);
    if (d > 0 && k !== 'info' && k !== 'evalsha') nested[k] = Number((d / jobs).toFixed(2));
  }
  const evalshaUsec = (b.usec.get('evalsha') ?? 0) - (a.usec.get('evalsha') ?? 0);
  const evalshaCalls = (b.calls.get('evalsha') ?? 0) - (a.calls.get('evalsha') ?? 0);
  return {
    cpuUs: ((b.cpu - a.cpu) * 1e6) / jobs,
    evalshaUs: evalshaUsec / jobs,
    evalshaPerJob: evalshaCalls / jobs,
    nested,
  };
}

/** Runs `op` over 0..n-1 in `count` steps, 32 loops in flight. */
async function drive(count: number, op: (i: number) => Promise<unknown>, loops = inFlight): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (next < count) await op(next++);
    }),
  );
}

async function round(r: number) {
  const queue = new Queue('tool-invocations', { connection: redis, prefix: `b${r}`, streams: queueStreams });
  await queue.waitUntilReady();
  const adder = new JobAdder(queue, redis, 'invoke');
  await adder.add({ warm: true }, `warm-${r}`); // loads the script, writes the queue's meta
  const taker = JobTaker.on(redis, queue.keys as Record<string, string>);
  if (!taker || !adder.direct) throw new Error('the scripts are not the ones expected');
  const finisher = new JobFinisher(redis, queue.keys as Record<string, string>);
  const data = { invocationId: 'x'.repeat(36), replyTo: 'edge-1', traceparent: '00-'.padEnd(55, '0') };

  const s0 = await sample();
  await drive(jobs, (i) => adder.add(data, `${r}-${i}-${'j'.repeat(30)}`));
  const s1 = await sample();
  const taken: { id: string; token: string }[] = [];
  let tokenNo = 0;
  await drive(Math.ceil((jobs + 1) / takeSize), async () => {
    const tokens = Array.from({ length: takeSize }, () => `tok-${r}-${tokenNo++}`);
    const answers = await taker.take(tokens, 30_000);
    answers.forEach((a, i) => a[1] && taken.push({ id: a[1], token: tokens[i]! }));
  });
  const s2 = await sample();
  await drive(
    taken.length,
    async (i) => {
      const outcome = await finisher.finish(taken[i]!.id, taken[i]!.token);
      if (outcome.code !== 0) throw new Error(`finish answered ${outcome.code}`);
    },
    finishInFlight,
  );
  const s3 = await sample();
  if (taken.length !== jobs + 1) throw new Error(`took ${taken.length} of ${jobs + 1}`);
  await queue.close();
  await redis.flushall();
  return { add: perJob(s0, s1), take: perJob(s1, s2), finish: perJob(s2, s3) };
}

const results = [];
for (let r = 0; r < rounds; r++) {
  results.push(await round(r));
  console.log(JSON.stringify(results.at(-1)));
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `\n${jobs} jobs per round, ${rounds} rounds, ${takeSize} token(s) per take, ` +
    `${finishInFlight} finish(es) in flight; medians, µs per job:`,
);
for (const phase of ['add', 'take', 'finish'] as const) {
  const cpu = median(results.map((x) => x[phase].cpuUs)).toFixed(1);
  const ev = median(results.map((x) => x[phase].evalshaUs)).toFixed(1);
  console.log(
    `${phase.padEnd(7)} Redis CPU ${cpu}  EVALSHA usec ${ev}  nested ${JSON.stringify(results[0]![phase].nested)}`,
  );
}
redis.disconnect();
stats.disconnect();
await server.stop();
