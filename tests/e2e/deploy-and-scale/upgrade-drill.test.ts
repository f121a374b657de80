import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, repoRoot, type RegisteredExample, type Stack } from '@toolplane/cli';
import { createManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { lastMessage, postMcp } from '../../helpers/mcp.ts';
import { startTestStack, tempDir, withoutRateLimits } from '../../helpers/stack.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

/**
 * The rolling-upgrade drill (docs/operations.md, "Upgrades and migrations"): a deployment of an older main, pinned
 * below, with two edges and two workers, rolled to this checkout one process at a time as Kubernetes rolls it (the
 * control plane first: its start applies the new migrations; then each worker, a new one started before the old one
 * drains; then each edge, drained while the other takes the traffic) while callers keep working through both edges:
 * plain calls creating tickets, durable tasks (2025-11-25 `params.task`, created through one edge and followed through
 * the other) and a two-step workflow (create, then read back the ticket it created). Each ticket's title is its own: the
 * upstream must see each created once (0 run twice), every caller must get its own ticket back (0 lost, every answer
 * correct). The older tree is this repository's own history (`git archive`), its dependencies installed by pnpm as the
 * test command installs this one's. How long each new process took to be ready is printed and quoted in the docs.
 */

/**
 * main on 2026-11-26, the first with durable tasks (three days before the drill took tasks and workflow runs; later:
 * the last release). The drill from `34332fb5` (2026-11-23, calls only: it had no tasks) passed on 2026-11-29 with
 * 1,168 tickets, none lost or twice. From `2132c0fa` (2026-11-22) one call in flight lost its answer at each older
 * edge's stop: edges drain their keep-alive connections since `ced0503e`.
 */
const OLDER_MAIN = 'f74046c3';
/** The upstream's credential (results never carry it: a title holding it would come back redacted). */
const UPSTREAM_KEY = 'drill-upstream-credential';
/** The workflow tool: creates a ticket with the caller's title, then reads it back by the id the upstream gave it. */
const WORKFLOW_TOOL = 'create_and_read';

let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;
/** The tree the next started process runs: the older main's, then this checkout. */
let tree: string;
/** The callers, stopped by the test or, if it fails midway, after it. */
let load: ReturnType<typeof callers> | undefined;
/** The workflow server's MCP URL (through the first edge). */
let workflowUrl: string;
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
  workflowUrl = await deployWorkflow(api);
}, 600_000);

/** A NORMAL server of one workflow tool whose two steps call the example server's tools: its MCP URL. */
async function deployWorkflow(api: ReturnType<typeof createManagementClient>): Promise<string> {
  const flows = await unwrap(api.POST('/mcp_manager', { body: { name: 'upgrade-flows', mode: 'NORMAL' } }));
  const tools = 'toolplane:mcp_servers/upgrade/tools';
  const definition = `
flower: "0.1"
id: ${WORKFLOW_TOOL}
flows:
  - id: ${WORKFLOW_TOOL}
    inputs: { type: object, properties: { title: { type: string } }, required: [title] }
    steps:
      - id: create
        request: { method: POST, url: "${tools}/create_ticket", body: { title: $inputs.title } }
        outputs: { id: $response.body.id }
      - id: read
        request: { method: POST, url: "${tools}/get_ticket", body: { ticket_id: $steps.create.outputs.id } }
        outputs: { title: $response.body.title }
    outputs: { title: $steps.read.outputs.title }
`;
  const deployed = await api.POST('/mcp_servers/{id}/deploy', {
    params: { path: { id: flows.id } },
    body: { definition },
  });
  if (deployed.response.status !== 201) throw new Error(`deployment refused: ${JSON.stringify(deployed.error)}`);
  return flows.url;
}

afterAll(async () => {
  await load?.done();
  await stack?.stop();
  await upstream?.close();
});

/** The JSON-RPC answer of one MCP request through `edge` (a JSON body, or the last message of an event stream). */
async function rpc(serverUrl: string, edge: string, method: string, params: unknown): Promise<Answer> {
  const url = serverUrl.replace(stack.edgeUrl, edge);
  const headers = { 'x-api-key': stack.bootstrapKey, 'mcp-protocol-version': '2025-11-25' };
  const res = await postMcp(url, { jsonrpc: '2.0', id: 1, method, params }, headers, scaled(60_000));
  try {
    return { status: res.status, ...((await lastMessage(res)) as Omit<Answer, 'status'>) };
  } catch (err) {
    // A body cut off by an edge going away is not an answer: the caller sends the request again (`dropped`).
    if (dropped(err)) throw err;
    return { status: res.status, error: { message: (err as Error).message } };
  }
}

interface Answer {
  status: number;
  result?: { isError?: boolean; content?: { text?: string }[]; task?: { taskId: string }; status?: string };
  error?: { message: string };
}

/** The title a tool result names (a ticket, or the workflow's outputs), or what went wrong. */
function titleOf(answer: Answer): string {
  const text = answer.result?.content?.[0]?.text ?? JSON.stringify(answer);
  if (answer.status !== 200 || answer.error || answer.result?.isError) return `failed: ${answer.status} ${text}`;
  return (JSON.parse(text) as { title?: string }).title ?? `no title: ${text}`;
}

/**
 * The work each kind of caller does with one title, starting at `edges[0]`. A task is created through one edge and
 * followed through the next; a request an edge drops while it stops (connection refused or closed) is sent to the next
 * edge, which is what a load balancer or a retrying client does: a task is durable, so following it resumes anywhere.
 */
const kinds = {
  call: (edges: () => string) => async (title: string) =>
    titleOf(await rpc(example.mcpUrl, edges(), 'tools/call', { name: 'create_ticket', arguments: { title } })),
  workflow: (edges: () => string) => async (title: string) =>
    titleOf(await rpc(workflowUrl, edges(), 'tools/call', { name: WORKFLOW_TOOL, arguments: { title } })),
  task: (edges: () => string) => async (title: string) => {
    const created = await rpc(example.mcpUrl, edges(), 'tools/call', {
      name: 'create_ticket',
      arguments: { title },
      task: {},
    });
    const taskId = created.result?.task?.taskId;
    if (!taskId) return titleOf(created);
    await waitFor(
      `task ${taskId} settled`,
      async () => {
        const got = await followed(() => rpc(example.mcpUrl, edges(), 'tasks/get', { taskId }));
        return got.result?.status !== 'working' ? true : undefined;
      },
      scaled(120_000),
    );
    return titleOf(await followed(() => rpc(example.mcpUrl, edges(), 'tasks/result', { taskId })));
  },
} satisfies Record<string, (edges: () => string) => (title: string) => Promise<string>>;

type Kind = keyof typeof kinds;

/** A read of a task sent again through the next edge when the one it went to was stopping (reads change nothing). */
async function followed(read: () => Promise<Answer>): Promise<Answer> {
  for (;;) {
    try {
      return await read();
    } catch (err) {
      if (!dropped(err)) throw err;
    }
  }
}

/** Whether a request failed because the edge it went to was not there or went away (not an answer). */
const dropped = (err: unknown) => err instanceof TypeError || (err as { name?: string }).name === 'TypeError';

/** Whether the upstream has received the ticket titled `title`. */
const reached = (title: string) =>
  upstream.requests.some((r) => r.method === 'POST' && (r.body as { title?: string } | undefined)?.title === title);

/**
 * Callers of each kind working until stopped, each through the edges in turn. A request an edge never took (connection
 * refused, or closed by an edge shutting down before the ticket reached the upstream) is sent again, with the same
 * title, to the next edge: if the first had run after all, the upstream would see the title twice. Anything else is
 * the call's answer.
 */
let phase = 'before the roll';

function callers(mix: Record<Kind, number>) {
  const answers: { kind: Kind; title: string; answer: string }[] = [];
  let retried = 0;
  let running = true;
  const loops = (Object.entries(mix) as [Kind, number][]).flatMap(([kind, count]) =>
    Array.from({ length: count }, async (_, i) => {
      let turn = i;
      const work = kinds[kind](() => stack.edgeUrls[turn++ % stack.edgeUrls.length]!);
      while (running) {
        const title = `${kind}-${randomUUID()}`;
        for (;;) {
          try {
            answers.push({ kind, title, answer: await work(title) });
            break;
          } catch (err) {
            const code = (err as { cause?: { code?: string } }).cause?.code ?? 'unknown';
            if (code === 'ECONNREFUSED' || !reached(title)) {
              retried++;
              continue;
            }
            answers.push({
              kind,
              title,
              answer: `failed after it reached the upstream (${phase}): ${code} ${String(err)}`,
            });
            break;
          }
        }
      }
    }),
  );
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
    'rolls control plane, two workers and two edges during calls, tasks and workflow runs: none lost, none twice, each answer its own',
    async () => {
      const calls = (load = callers({ call: 3, task: 2, workflow: 1 }));
      const rolled: string[] = [];
      /** How long each new process took from its start to answering ready, in ms. */
      const ready: Record<string, number[]> = {};
      const started = async (service: string, start: () => Promise<unknown>) => {
        const t0 = performance.now();
        await start();
        (ready[service] ??= []).push(Math.round(performance.now() - t0));
        rolled.push(service);
      };
      /** Waits until `n` more answers of each kind came: every kind keeps working across each step. */
      const answered = async (n: number) => {
        const counts = () => Object.fromEntries((['call', 'task', 'workflow'] as const).map((k) => [k, count(k)]));
        const count = (k: Kind) => calls.answers.filter((a) => a.kind === k).length;
        const from = counts();
        await waitFor(
          `${n} more answers of each kind`,
          () => ((['call', 'task', 'workflow'] as const).every((k) => count(k) >= from[k]! + n) ? true : undefined),
          scaled(180_000),
        );
        phase = `${rolled.join(', ') || 'nothing'} rolled`;
        note(`${phase}; ${JSON.stringify(counts())} answers`);
      };
      await answered(5);
      tree = repoRoot;

      const controlPlane = stack.processes.find((p) => p.service === 'control-plane')!;
      await stack.stopProcess(controlPlane);
      await started('control plane', () => stack.startControlPlane());
      await answered(3);

      for (const old of stack.processes.filter((p) => p.service === 'worker')) {
        await started('worker', () => stack.addWorker());
        await stack.stopProcess(old);
        await answered(3);
      }
      for (let i = 0; i < stack.edgeUrls.length; i++) {
        const old = stack.processes.find((p) => p.service === 'edge' && p.url === stack.edgeUrls[i]);
        if (!old) throw new Error(`no edge process at ${stack.edgeUrls[i]}`);
        await stack.stopProcess(old);
        await started('edge', () => stack.startEdge(i));
        await answered(3);
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
      const per = (k: Kind) => calls.answers.filter((a) => a.kind === k).length;
      note(
        `${per('call')} calls, ${per('task')} tasks and ${per('workflow')} workflow runs across the roll, 0 lost, ` +
          `0 twice; ${calls.retried()} requests sent again; ready after (ms): ${JSON.stringify(ready)}`,
      );
    },
    scaled(300_000),
  );
});
