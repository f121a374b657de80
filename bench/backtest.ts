// bench/backtest: one `POST /governance/backtest` over 100,000 recorded calls (ADR 0080). A stack (embedded
// PostgreSQL and Redis) with the ticket example's server and 10 API keys; `--records` execution records of its tools
// spread over 7 days, each with its arguments sealed to the control plane's key as a worker seals them, stored by the
// control plane's own statement (rollups included); then the backtest of a change holding a condition, a quota of 50
// calls an hour per key and a guardrail on arguments, timed `--rounds` times (the figure: each round's seconds, the
// control plane's peak RSS). Not a test: copy the line into docs/benchmarks.md.
// `--live N`: then N interleaved pairs of 10-second windows of live tools/call at 32 in flight against a local
// upstream (bench/upstream.ts), one with nothing else running, one while backtests run back to back for the whole window:
// calls/s and p50 of each, to see what a backtest costs the live calls on the same cores.
//
//   pnpm bench:backtest [--records 100000] [--rounds 3] [--live 4]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { registerTicketExample, repoRoot, startStack } from '@toolplane/cli';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import { createManagementClient, unwrap } from '@toolplane/client';
import type { ExecutionRecord } from '@toolplane/contracts';
import pg from 'pg';
import { RecordArgumentsSealer } from '../packages/secrets/src/index.ts';
import { storeExecutionRecords } from '../services/control-plane/src/resources/execution-records/store.ts';
import { getTicketCall, runLoad, type LoadResult } from './load.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    live: { type: 'string', default: '0' },
  },
});
const total = Number(values.records);
const rounds = Number(values.rounds);
const livePairs = Number(values.live);
const upstreamKey = 'bench-upstream-key';
const upstream =
  livePairs > 0
    ? spawn(
        process.execPath,
        ['--conditions=@toolplane/source', join(repoRoot, 'bench', 'upstream.ts'), upstreamKey, '0', '0'],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      )
    : undefined;
const upstreamUrl = upstream
  ? await new Promise<string>((resolve) => upstream.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())))
  : 'http://127.0.0.1:9';

const dir = mkdtempSync(join(tmpdir(), 'toolplane-bench-backtest-'));
const stack = await startStack({ dataDir: dir, logLevel: 'warn' });
try {
  const api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  // The seed descriptor without its rate limit (1,000 calls a minute would throttle the live windows).
  const unlimited = ticketSystemDescriptorYaml.replace(/\nrate_limits:\n(?: {2}.*\n)+/, '\n');
  const example = await registerTicketExample(api, upstreamUrl, upstreamKey, 'tickets', unlimited);
  const keys = [];
  for (let i = 0; i < 10; i++)
    keys.push(await unwrap(api.POST('/api_keys', { body: { name: `agent-${i}`, scopes: ['runtime'] } })));
  const pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 2 });
  const { rows } = await pool.query<{ workspace_id: string; catalog_version: number }>(
    'SELECT workspace_id::text, catalog_version FROM mcp_servers WHERE id = $1::uuid',
    [example.serverId],
  );
  const { workspace_id: workspaceId, catalog_version: catalogVersion } = rows[0]!;
  const sealer = new RecordArgumentsSealer(readFileSync(join(dir, 'keys', 'record-arguments.pub.pem'), 'utf8'));
  const end = Date.now() - 60_000;
  const from = new Date(end - 7 * 86_400_000);
  const seedStarted = performance.now();
  for (let done = 0; done < total; done += 1000) {
    const batch: ExecutionRecord[] = [];
    for (let i = done; i < Math.min(total, done + 1000); i++) {
      const id = randomUUID();
      const tool = i % 3 === 0 ? 'search_tickets' : 'get_ticket';
      const args =
        tool === 'get_ticket'
          ? { ticket_id: `T-${i % 500}` }
          : { query: i % 97 === 0 ? `mail x${i}@example.com` : 'open' };
      batch.push({
        v: 1,
        invocationId: id,
        workspaceId,
        serverId: example.serverId,
        catalogVersion,
        tool,
        caller: { keyId: keys[i % keys.length]!.id, ...(i % 4 === 0 ? { username: `person-${i % 20}` } : {}) },
        startedAt: new Date(from.getTime() + Math.floor(((end - from.getTime()) * i) / total)).toISOString(),
        durationMs: 12,
        outcome: 'success',
        steps: [],
        costUnits: 1,
        sealedArguments: sealer.seal(args, id),
      });
    }
    await storeExecutionRecords(pool, batch);
  }
  console.log(
    `seeded ${total} records with sealed arguments in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`,
  );
  await pool.end();
  const files = [
    {
      path: 'access-policies/no-ticket-13.yaml',
      content:
        'name: no-ticket-13\nprincipals:\n  - type: api_key\n    value: agent-0\nservers: [tickets]\n' +
        'tools: [get_ticket]\ncondition: args.ticket_id != "T-13"\n',
    },
    {
      path: 'access-policies/agent-0-rest.yaml',
      content:
        'name: agent-0-rest\nprincipals:\n  - type: api_key\n    value: agent-0\nservers: [tickets]\ntools: [search_tickets, create_ticket]\n',
    },
    {
      path: 'quotas/fifty-an-hour.yaml',
      content: 'name: fifty-an-hour\nmatch: {}\ncounts: calls\nlimit: 50\nwindow: hour\nper: api_key\n',
    },
    {
      path: 'guardrails/no-emails.yaml',
      content:
        'name: no-emails\nserver: null\ndetectors:\n  - kind: pii\n    types: [email]\naction: block\non: [arguments]\n',
    },
  ];
  const cp = stack.processes.find((p) => p.name === 'control-plane');
  for (let round = 1; round <= rounds; round++) {
    const started = performance.now();
    const report = await unwrap(
      api.POST('/governance/backtest', {
        body: { files, from: from.toISOString(), to: new Date(end + 1000).toISOString() },
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const c = report.changes;
    console.log(
      `round ${round}: ${report.calls.replayed} calls in ${seconds.toFixed(1)} s ` +
        `(newly refused ${c.newlyRefused.calls}, new findings ${c.newFindings.calls}, ` +
        `charged differently ${c.chargedDifferently.calls}, without arguments ${report.calls.withoutArguments})`,
    );
  }
  if (livePairs > 0)
    await liveWindows(example.mcpUrl, () =>
      api.POST('/governance/backtest', {
        body: { files, from: from.toISOString(), to: new Date(end + 1000).toISOString() },
      }),
    );
  if (cp?.child.pid) {
    const status = readFileSync(`/proc/${cp.child.pid}/status`, 'utf8');
    console.log(`control plane ${/VmHWM:\s+(\d+ kB)/.exec(status)?.[1] ?? '?'} peak RSS`);
  }
} finally {
  upstream?.kill('SIGTERM');
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** Live calls with and without a backtest running, interleaved pairs of windows; the medians of each arm. */
async function liveWindows(mcpUrl: string, backtest: () => Promise<unknown>): Promise<void> {
  const target = getTicketCall(mcpUrl, stack.bootstrapKey);
  const alone: LoadResult[] = [];
  const during: LoadResult[] = [];
  for (let pair = 1; pair <= livePairs; pair++) {
    alone.push(await runLoad('alone', target, 32, 10));
    // Backtests back to back for the whole window (one takes a few seconds on a quiet machine).
    let windowOpen = true;
    let backtests = 0;
    const running = (async () => {
      while (windowOpen) {
        await backtest();
        backtests++;
      }
    })();
    during.push(await runLoad('during a backtest', target, 32, 10));
    windowOpen = false;
    await running;
    const [a, d] = [alone.at(-1)!, during.at(-1)!];
    console.log(
      `pair ${pair}: alone ${a.throughput.toFixed(0)} calls/s p50 ${a.p50.toFixed(2)} ms (${a.errors} errors); ` +
        `during backtests ${d.throughput.toFixed(0)} calls/s p50 ${d.p50.toFixed(2)} ms (${d.errors} errors; ${backtests} backtests)`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const ratio = median(during.map((d, i) => d.throughput / alone[i]!.throughput));
  console.log(
    `live calls during a backtest ÷ alone, median of ${livePairs} pairs: calls/s ${ratio.toFixed(2)}, ` +
      `p50 ${median(during.map((d) => d.p50)).toFixed(2)} against ${median(alone.map((a) => a.p50)).toFixed(2)} ms`,
  );
}
