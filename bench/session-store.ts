// bench/session-store: what sessions' labels cost Redis (ADR 0078): memory per session and the time of the write and
// the read the worker and the edge make. Not a test: it prints what it measured; copy it into docs/benchmarks.md.
//
//   pnpm bench:session-store [--sessions 10000] [--tools 10]
//
// A private redis-server; `--sessions` sessions, each a key and a person (two scopes), each given both labels and
// `--tools` tools' call counts by `addToSession` (the worker's write), then every session read once by `readSession`
// (the edge's read). Prints used memory before and after (bytes per session and per scope), and the writes' and
// reads' rate and median time over one connection, one at a time and 64 in flight.
import { parseArgs } from 'node:util';
import { sessionScopes } from '@toolplane/contracts';
import { startRedisServer } from '@toolplane/embedded';
import { addToSession, readSession } from '@toolplane/queue';
import { Redis } from 'ioredis';

const { values } = parseArgs({
  options: { sessions: { type: 'string', default: '10000' }, tools: { type: 'string', default: '10' } },
});
const sessions = Number(values.sessions);
const tools = Number(values.tools);

const server = await startRedisServer();
const redis = new Redis(server.url, { maxRetriesPerRequest: null });
const prefix = 'tp';
const used = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
const scopesOf = (i: number) => sessionScopes({ keyId: `key-${i}`, userId: `person-${i}` }, 'srv');

/** Runs `op` for 0..n-1, `inFlight` at a time; the median of each call's time (ms) and the rate. */
async function timed(n: number, inFlight: number, op: (i: number) => Promise<unknown>) {
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await op(i);
        times.push(performance.now() - t);
      }
    }),
  );
  const total = performance.now() - started;
  times.sort((a, b) => a - b);
  return { perSecond: Math.round((n / total) * 1000), p50: times[Math.floor(times.length / 2)]!.toFixed(3) };
}

const write = (i: number, tool: number, label: 'private' | 'untrusted') =>
  addToSession(
    redis,
    { prefix, workspaceId: 'ws', session: { scopes: scopesOf(i), ttlSeconds: 86_400, countCalls: true } },
    {
      tool: `tool_number_${tool}`,
      serverId: 'c0a80101-0000-4000-8000-000000000001',
      invocationId: `6f1c${String(i).padStart(8, '0')}-0000-4000-8000-${String(tool).padStart(12, '0')}`,
      at: Date.now(),
      labels: [{ label, source: 'declared' }],
      countCall: true,
    },
  );

const before = await used();
const first = await timed(sessions, 1, (i) => write(i, 0, 'private'));
for (let t = 1; t < tools; t++) await timed(sessions, 64, (i) => write(i, t, t % 2 ? 'untrusted' : 'private'));
const after = await used();
const many = await timed(sessions, 64, (i) => write(i, 0, 'private'));
const readOne = await timed(sessions, 1, (i) => readSession(redis, { prefix, workspaceId: 'ws', scopes: scopesOf(i) }));
const readMany = await timed(sessions, 64, (i) =>
  readSession(redis, { prefix, workspaceId: 'ws', scopes: scopesOf(i) }),
);
const keys = await redis.dbsize();
console.log(
  `sessions ${sessions} (two scopes each: ${keys} keys), ${tools} tools' calls and both labels in each scope`,
);
console.log(
  `memory: ${((after - before) / 1024 / 1024).toFixed(1)} MiB, ${Math.round((after - before) / sessions)} bytes per session, ` +
    `${Math.round((after - before) / keys)} per scope`,
);
console.log(`write (addToSession, both scopes), one at a time: ${first.perSecond}/s, p50 ${first.p50} ms`);
console.log(`write, 64 in flight: ${many.perSecond}/s, p50 ${many.p50} ms`);
console.log(`read (readSession, both scopes), one at a time: ${readOne.perSecond}/s, p50 ${readOne.p50} ms`);
console.log(`read, 64 in flight: ${readMany.perSecond}/s, p50 ${readMany.p50} ms`);
redis.disconnect();
await server.stop();
