// What services write, for tests to read or feed: the JSON log lines a service process printed, and execution
// records as workers send them to the record stream.
import { randomUUID } from 'node:crypto';
import type { ServiceProcess } from '@toolplane/cli';
import type { ExecutionRecord } from '../../packages/contracts/src/index.ts';

/** The JSON log lines a service process printed whose `msg` is `msg` (services log with pino, one JSON object a line). */
export function logLines(p: ServiceProcess, msg: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of p.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg === msg) lines.push(parsed);
    } catch {
      // a line still being written
    }
  }
  return lines;
}

/**
 * `n` execution records of one tool as a worker sends them to the record stream (caller: key `k`, no steps), for
 * tests that feed the traffic rollup a known mix with chosen times and durations. Every outcome but `success` carries
 * the error code `tool.upstream_error`.
 */
export function executionRecords(
  at: { workspaceId: string; serverId: string; tool: string; startedAt: string },
  n: number,
  durationMs: number,
  outcome: ExecutionRecord['outcome'] = 'success',
): ExecutionRecord[] {
  return Array.from({ length: n }, () => ({
    v: 1 as const,
    invocationId: randomUUID(),
    ...at,
    catalogVersion: 1,
    caller: { keyId: 'k' },
    durationMs,
    outcome,
    ...(outcome === 'success' ? {} : { errorCode: 'tool.upstream_error' }),
    steps: [],
  }));
}
