// bench/policy-publish: how long a write of one access policy takes to be enforced by the edges, as the workspace's
// policies grow. One stack (two edges, one worker, the ticket example); `N` policies with conditions naming one key
// (each grants `list_tickets` under a condition that holds: every call of that key is judged against all of them),
// bulk-copied from one made through `POST /access_policies`. At each size, `--rounds` times: `POST /access_policies`
// granting that key `get_ticket`, then each edge polled with a `get_ticket` call until it answers; then
// `DELETE /access_policies/{id}` and each edge polled until it refuses again. Beside it, the publication's own work
// in this process: the document built as the control plane builds it (`workspaceAccess`: the reads, then
// `JSON.stringify`), and read as an edge reads it (`JSON.parse`, `WorkspaceAccess.parse`).
//
//   pnpm bench:policy-publish [--sizes 1,100,300,1000] [--rounds 5] [--out bench/results/<UTC time>-policy-publish]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { registerTicketExample, repoRoot, startStack } from '@toolplane/cli';
import { createManagementClient, unwrap } from '@toolplane/client';
import { WorkspaceAccess } from '@toolplane/contracts';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import pg from 'pg';
import { createDb } from '../services/control-plane/src/db/client.ts';
import { workspaceAccess } from '../services/control-plane/src/resources/access-policies/publish.ts';
import { getTicketCall } from './load.ts';
import { commitMeasured } from './tool-call-report.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,100,300,1000' },
    rounds: { type: 'string', default: '5' },
    out: { type: 'string' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const rounds = Number(values.rounds);
const stamp = new Date()
  .toISOString()
  .replace(/[-:]/g, '')
  .replace(/\.\d+Z$/, 'Z');
const outDir = values.out ?? join(repoRoot, 'bench', 'results', `${stamp}-policy-publish`);
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const upstreamKey = 'bench-upstream-key';
const unlimited = ticketSystemDescriptorYaml.replace(/\nrate_limits:\n(?: {2}.*\n)+/, '\n');

const upstream = spawn(
  process.execPath,
  ['--conditions=@toolplane/source', join(repoRoot, 'bench', 'upstream.ts'), upstreamKey, '0', '0', '0'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const upstreamUrl = await new Promise<string>((r) =>
  upstream.stdout.once('data', (d: Buffer) => r(d.toString().trim())),
);
const dataDir = mkdtempSync(join(tmpdir(), 'policy-publish-'));
const stack = await startStack({ dataDir, edges: 2, workers: 1, logLevel: 'warn' });
const pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 2 });
const db = createDb(stack.databaseUrl, () => undefined, 2);

/** Polls every edge with the call until each answers as `allowed` says; ms from `t0` per edge. */
async function untilEdges(calls: ReturnType<typeof getTicketCall>[], allowed: boolean, t0: bigint) {
  return Promise.all(
    calls.map(async (c) => {
      for (;;) {
        const res = await fetch(c.url, { method: 'POST', headers: c.headers, body: c.body });
        if (c.check(res.status, await res.text()) === allowed) return ms(t0);
      }
    }),
  );
}

try {
  const api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  const example = await registerTicketExample(api, upstreamUrl, upstreamKey, 'policies', unlimited);
  const key = await unwrap(api.POST('/api_keys', { body: { name: 'policy-publish', scopes: ['runtime'] } }));
  const path = new URL(example.mcpUrl).pathname;
  const calls = stack.edgeUrls.map((origin) => getTicketCall(new URL(path, origin).href, key.key!));
  const filler = (i: number) => ({
    name: `scale-${i}`,
    principals: [{ type: 'api_key' as const, value: key.id }],
    servers: ['*'],
    tools: ['list_tickets'],
    condition: `args.status != "NOT-${i}"`,
  });
  const template = await unwrap(api.POST('/access_policies', { body: filler(0) }));
  const { rows: owner } = await pool.query<{ workspace_id: string }>(
    'SELECT workspace_id FROM access_policies WHERE id = $1',
    [template.id],
  );
  const workspaceId = owner[0]!.workspace_id;
  await untilEdges(calls, false, process.hrtime.bigint());
  const rows = [];
  let filled = 1;
  for (const size of sizes) {
    // Copies of the first policy, each with its own name and condition (what `POST /access_policies` stores).
    await pool.query(
      `INSERT INTO access_policies (id, workspace_id, name, description, principals, servers, tools, condition, on_false,
         approval, enforce, created_at, updated_at)
       SELECT gen_random_uuid(), t.workspace_id, 'scale-' || g, t.description, t.principals, t.servers, t.tools,
         'args.status != "NOT-' || g || '"', t.on_false, t.approval, t.enforce, now(), now()
       FROM access_policies t, generate_series($2::int, $3::int) g WHERE t.id = $1::uuid`,
      [template.id, filled, size - 1],
    );
    filled = Math.max(filled, size);
    const writeMs: number[] = [];
    const enforcedMs: number[][] = [];
    const deleteMs: number[] = [];
    const revokedMs: number[][] = [];
    for (let round = 0; round < rounds; round++) {
      let t0 = process.hrtime.bigint();
      const grant = await unwrap(
        api.POST('/access_policies', {
          body: {
            name: `grant-${size}-${round}`,
            principals: [{ type: 'api_key', value: key.id }],
            servers: ['*'],
            tools: ['get_ticket'],
          },
        }),
      );
      writeMs.push(ms(t0));
      enforcedMs.push(await untilEdges(calls, true, t0));
      t0 = process.hrtime.bigint();
      await unwrap(api.DELETE('/access_policies/{id}', { params: { path: { id: grant.id } } }));
      deleteMs.push(ms(t0));
      revokedMs.push(await untilEdges(calls, false, t0));
    }
    const built: number[] = [];
    const parsed: number[] = [];
    let bytes = 0;
    await workspaceAccess(db, workspaceId); // not measured: the first read prepares the client
    for (let i = 0; i < rounds; i++) {
      let t0 = process.hrtime.bigint();
      const text = JSON.stringify(await workspaceAccess(db, workspaceId));
      built.push(ms(t0));
      bytes = text.length;
      t0 = process.hrtime.bigint();
      WorkspaceAccess.parse(JSON.parse(text));
      parsed.push(ms(t0));
    }
    const row = {
      policies: size,
      documentBytes: bytes,
      postMs: writeMs,
      postToBothEdgesMs: enforcedMs.map((e) => Math.max(...e)),
      deleteMs,
      deleteToBothEdgesMs: revokedMs.map((e) => Math.max(...e)),
      buildMs: built,
      edgeParseMs: parsed,
    };
    rows.push(row);
    console.error(
      `${size} policies (${bytes} B): POST ${median(writeMs).toFixed(1)} ms, enforced by both edges ` +
        `${median(row.postToBothEdgesMs).toFixed(1)} ms; DELETE ${median(deleteMs).toFixed(1)} ms, both edges ` +
        `${median(row.deleteToBothEdgesMs).toFixed(1)} ms; build ${median(built).toFixed(2)} ms, ` +
        `edge parse ${median(parsed).toFixed(2)} ms`,
    );
  }
  mkdirSync(outDir, { recursive: true });
  const commit = commitMeasured(repoRoot);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`;
  writeFileSync(join(outDir, 'policy-publish.json'), JSON.stringify({ commit, machine, rounds, rows }, null, 2));
  console.log(`results: ${outDir}`);
} finally {
  await db.$disconnect();
  await pool.end();
  await stack.stop();
  upstream.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
}
