// Redis commands per tool call, from `INFO commandstats` deltas (commands run inside BullMQ's Lua
// scripts are counted one by one, as Redis counts them). Background traffic (the control plane's state
// checks, BullMQ's stalled-job checks, blocking reads) is measured over an idle window and subtracted.
import { connect } from 'node:net';

/** Calls per command name (`INFO commandstats`), over a connection of its own (RESP by hand: no client library). */
function commandStats(redisUrl: string): Promise<Map<string, number>> {
  const { hostname, port } = new URL(redisUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port || 6379), hostname);
    let data = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
      const header = /^\$(\d+)\r\n/.exec(data);
      if (!header || Buffer.byteLength(data) < header[0].length + Number(header[1]) + 2) return;
      socket.end();
      const stats = new Map<string, number>();
      for (const m of data.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(m[1]!, Number(m[2]));
      resolve(stats);
    });
    socket.write('*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n');
  });
}

function diff(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) > 0) out.set(k, v - (before.get(k) ?? 0));
  return out;
}

/**
 * Runs `calls` calls of `call` with `concurrency` loops and returns the Redis commands per call, by
 * command (background rate subtracted), largest first, with the total.
 */
export async function commandsPerCall(
  redisUrl: string,
  call: () => Promise<void>,
  calls: number,
  concurrency: number,
): Promise<{ total: number; byCommand: [string, number][] }> {
  const idleMs = 2000;
  const idleStart = await commandStats(redisUrl);
  await new Promise((r) => setTimeout(r, idleMs));
  const background = diff(await commandStats(redisUrl), idleStart);
  // The two INFO calls of the idle window are not background.
  background.set('info', Math.max(0, (background.get('info') ?? 0) - 1));

  const before = await commandStats(redisUrl);
  const started = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) {
        next++;
        await call();
      }
    }),
  );
  const elapsed = Date.now() - started;
  const used = diff(await commandStats(redisUrl), before);
  used.set('info', Math.max(0, (used.get('info') ?? 0) - 1));
  const byCommand = [...used]
    .map(([k, v]) => [k, Math.max(0, v - ((background.get(k) ?? 0) * elapsed) / idleMs) / calls] as [string, number])
    .filter(([, v]) => v >= 0.005)
    .sort((a, b) => b[1] - a[1]);
  return { total: byCommand.reduce((a, [, v]) => a + v, 0), byCommand };
}

/** `LLEN key` over a connection of its own (RESP by hand, as `commandStats`). */
export function listLength(redisUrl: string, key: string): Promise<number> {
  const { hostname, port } = new URL(redisUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port || 6379), hostname);
    let data = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
      const m = /^:(\d+)\r\n/.exec(data);
      if (!m) return;
      socket.end();
      resolve(Number(m[1]));
    });
    socket.write(`*2\r\n$4\r\nLLEN\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`);
  });
}
