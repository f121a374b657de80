import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, repoRoot, type RegisteredExample, type Stack } from '@toolplane/cli';
import { createManagementClient } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { postMcp } from '../../helpers/mcp.ts';
import { startTestStack, tempDir, withoutRateLimits } from '../../helpers/stack.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

/**
 * The rolling-upgrade drill (docs/operations.md, "Upgrades and migrations"): a deployment of an older main, pinned
 * below, with two edges and two workers, rolled to this checkout one process at a time as Kubernetes rolls it (the
 * control plane first: its start applies the new migrations; then each worker, a new one started before the old one
 * drains; then each edge, drained while the other takes the traffic) while callers keep creating tickets through both
 * edges. Each call's title is its own: the upstream must see each once (0 run twice), every call must get its own
 * ticket back (0 lost, every answer correct). The older tree is this repository's own history (`git archive`), its
 * dependencies installed by pnpm as the test command installs this one's.
 */

/**
 * main on 2026-11-23, six days before the drill was written (later: the last release). From `2132c0fa` (2026-11-22),
 * one call in flight lost its answer at each older edge's stop: edges drain their keep-alive connections since `ced0503e`.
 */
const OLDER_MAIN = '34332fb5';
/** The upstream's credential (results never carry it: a title holding it would come back redacted). */
const UPSTREAM_KEY = 'drill-upstream-credential';

let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;
/** The tree the next started process runs: the older main's, then this checkout. */
let tree: string;
/** The callers, stopped by the test or, if it fails midway, after it. */
let load: ReturnType<typeof callers> | undefined;
const note = (line: string) => process.stderr.write(`upgrade drill: ${line}\n`);

function prepareOlderTree(): string {
  const dir = tempDir('upgrade-older');
  try {
    execFileSync('bash', ['-c', `git -C "${repoRoot}" archive ${OLDER_MAIN} | tar -x -C "${dir}"`], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`the older main ${OLDER_MAIN} is not in this clone's history (a shallow clone?)`, { cause: err });
  }
  const run = (args: string[]) => execFileSync('pnpm', args, { cwd: dir, stdio: 'pipe', env: process.env });
  run(['install', '--frozen-lockfile', '--prefer-offline']);
  run(['generate']);
  return dir;
}

beforeAll(async () => {
  tree = prepareOlderTree();
  upstream = await startTicketSystem({ apiKey: UPSTREAM_KEY, host: '127.0.0.1', maxRecorded: 1_000_000 });
  ({ stack } = await startTestStack('upgrade', {
    // The older control plane answers by its own OpenAPI document, not this checkout's.
    contract: false,
    edges: 2,
    workers: 2,
    logLevel: 'warn',
    launch: (service) => ({
      args: ['--conditions=@toolplane/source', join(tree, 'services', service, 'src', 'main.ts')],
      cwd: tree,
    }),
  }));
  const api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  example = await registerTicketExample(
    api,
    upstream.url,
    UPSTREAM_KEY,
    'upgrade',
    withoutRateLimits(ticketSystemDescriptorYaml),
  );
}, 600_000);

afterAll(async () => {
  await load?.done();
  await stack?.stop();
  await upstream?.close();
});

/** One `create_ticket` through `edge`: the title of the ticket it answered, or what went wrong. */
async function createTicket(edge: string, title: string): Promise<string> {
  const url = example.mcpUrl.replace(stack.edgeUrl, edge);
  const message = {
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'create_ticket', arguments: { title } },
  };
  const res = await postMcp(url, message, { 'x-api-key': stack.bootstrapKey }, scaled(60_000));
  const body = (await res.json()) as { result?: { isError?: boolean; content?: { text?: string }[] } };
  const text = body.result?.content?.[0]?.text ?? JSON.stringify(body);
  if (res.status !== 200 || body.result?.isError) return `failed: ${res.status} ${text}`;
  return (JSON.parse(text) as { title?: string }).title ?? `no title: ${text}`;
}

/** Whether the upstream has received the ticket titled `title`. */
const reached = (title: string) =>
  upstream.requests.some((r) => r.method === 'POST' && (r.body as { title?: string } | undefined)?.title === title);

/**
 * Callers creating tickets until stopped, each through the edges in turn. A request an edge never took (connection
 * refused, or closed by an edge shutting down before the ticket reached the upstream) is sent again, with the same
 * title, to the next edge, as a load balancer or a client retrying a connection error does: if the first had run after
 * all, the upstream would see the title twice. Anything else is the call's answer.
 */
let phase = 'before the roll';

function callers(count: number) {
  const answers: { title: string; answer: string }[] = [];
  let retried = 0;
  let running = true;
  const loops = Array.from({ length: count }, async (_, i) => {
    let turn = i;
    while (running) {
      const title = `ticket-${randomUUID()}`;
      for (;;) {
        const edge = stack.edgeUrls[turn++ % stack.edgeUrls.length]!;
        try {
          answers.push({ title, answer: await createTicket(edge, title) });
          break;
        } catch (err) {
          const code = (err as { cause?: { code?: string } }).cause?.code ?? 'unknown';
          if (code === 'ECONNREFUSED' || !reached(title)) {
            retried++;
            continue;
          }
          answers.push({ title, answer: `failed after it reached the upstream (${phase}): ${code} ${String(err)}` });
          break;
        }
      }
    }
  });
  return {
    answers,
    retried: () => retried,
    done: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('rolling upgrade from an older main', () => {
  it(
    'rolls control plane, two workers and two edges while tickets are created: none lost, none twice, each answer its own',
    async () => {
      const calls = (load = callers(4));
      const answered = async (n: number) => {
        await waitFor(`${n} answers`, () => (calls.answers.length >= n ? true : undefined), scaled(120_000));
        phase = `${rolled.join(', ') || 'nothing'} rolled`;
        note(`${phase}; ${calls.answers.length} answers`);
      };
      const rolled: string[] = [];
      await answered(20);
      tree = repoRoot;

      const controlPlane = stack.processes.find((p) => p.service === 'control-plane')!;
      await stack.stopProcess(controlPlane);
      await stack.startControlPlane();
      rolled.push('control plane');
      await answered(calls.answers.length + 10);

      for (const old of stack.processes.filter((p) => p.service === 'worker')) {
        await stack.addWorker();
        await stack.stopProcess(old);
        rolled.push('worker');
        await answered(calls.answers.length + 10);
      }
      for (let i = 0; i < stack.edgeUrls.length; i++) {
        const old = stack.processes.find((p) => p.service === 'edge' && p.url === stack.edgeUrls[i]);
        if (!old) throw new Error(`no edge process at ${stack.edgeUrls[i]}`);
        await stack.stopProcess(old);
        await stack.startEdge(i);
        rolled.push('edge');
        await answered(calls.answers.length + 10);
      }
      await calls.done();

      expect(rolled).toEqual(['control plane', 'worker', 'worker', 'edge', 'edge']);
      const wrong = calls.answers.filter((a) => a.answer !== a.title);
      expect(wrong).toEqual([]);
      const created = upstream.requests.filter((r) => r.method === 'POST' && r.path === '/api/v1/tickets');
      const seen = new Map<string, number>();
      for (const r of created) {
        const title = (r.body as { title?: string }).title ?? '';
        seen.set(title, (seen.get(title) ?? 0) + 1);
      }
      expect([...seen].filter(([, n]) => n > 1)).toEqual([]);
      expect(calls.answers.every((a) => seen.get(a.title) === 1)).toBe(true);
      note(
        `${calls.answers.length} tickets created across the roll, 0 lost, 0 twice; ${calls.retried()} requests sent again`,
      );
    },
    scaled(300_000),
  );
});
