import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { WorkflowPlan } from '@toolplane/contracts';
import { compileWorkflowDocument } from '@toolplane/workflow';
import { configureOutbound, parseOutboundAllow } from './outbound-guard.ts';
import { SecretResolver } from './secret-resolver.ts';
import { runWorkflowTool, type ExecutionTreeNode } from './workflow-runner.ts';

/**
 * The worker's workflow runner on a real local upstream: the execution record's step list and its
 * `flow.run` → `step.run` → `action.run` tree (method, URL template, resolved URL, status, attempts,
 * retries, the action taken), with secret values and per-caller `Config-*` values redacted everywhere.
 */

const SECRET = 'sk-runner-5d1c9e7a2b';
const TENANT = 'acme-tenant-42';
const WORKSPACE_SECRET = 'sk-workspace-8e41c07d';
const limits = { timeoutMs: 5_000, maxResponseBytes: 1024 * 1024 };

let upstream: Server;
let base: string;
let polls = 0;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (u.pathname === '/poll') return json(++polls === 1 ? 202 : 200, { ready: polls > 1 });
    if (u.pathname === '/whose') {
      const key = String(req.headers['x-key']);
      return json(200, { whose: key === SECRET ? 'server' : key === WORKSPACE_SECRET ? 'workspace' : 'other' });
    }
    // Echoes the tenant from the path and the key it was sent: both must come back redacted.
    if (u.pathname.startsWith('/items/'))
      return json(200, {
        echo: `tenant ${decodeURIComponent(u.pathname.slice(7))} key ${String(req.headers['x-key'])}`,
      });
    return json(404, { error: 'no such path' });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1'), maxRedirects: 0, connectTimeoutMs: 2_000 });
});

afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

function planFor(doc: unknown, workflowId: string): WorkflowPlan {
  const { ir } = compileWorkflowDocument(doc);
  return {
    kind: 'workflow',
    deploymentId: 'dep-1',
    workflowId,
    ir: ir as unknown as Record<string, unknown>,
    secretNames: { API_KEY: 'ws/w1/servers/s1/secrets/API_KEY' },
  };
}

const resolver = () =>
  new SecretResolver({ get: async (name) => (name === 'ws/w1/servers/s1/secrets/API_KEY' ? SECRET : undefined) }, 0);

const doc = () => ({
  flower: '0.1',
  id: 'doc',
  flows: [
    {
      id: 'lookup',
      inputs: { type: 'object', properties: { q: { type: 'string' } } },
      steps: [
        {
          id: 'poll',
          request: { method: 'GET', url: `${base}/poll?key=$secrets.API_KEY&q=$inputs.q` },
          actions: [{ when: '$status == 202', do: 'retry', wait: 0, max_retry: 3 }],
        },
        {
          id: 'details',
          request: { method: 'GET', url: `${base}/items/$config.tenant`, headers: { 'X-Key': '$secrets.API_KEY' } },
          outputs: { echoed: '$response.body.echo' },
        },
        { id: 'missing', request: { method: 'GET', url: `${base}/nowhere` } },
      ],
      outputs: { echoed: '$steps.details.outputs.echoed' },
    },
  ],
});

/** Nodes of a tree, depth first, as `kind workflow/step`. */
function walk(nodes: ExecutionTreeNode[], depth = 0): string[] {
  return nodes.flatMap((n) => [
    `${'  '.repeat(depth)}${n.kind} ${n.workflowId}${n.stepId ? `/${n.stepId}` : ''}`,
    ...walk(n.children, depth + 1),
  ]);
}

describe('runWorkflowTool', () => {
  it('records the run as flow.run → step.run → action.run with retries and actions, values redacted', async () => {
    polls = 0;
    const out = await runWorkflowTool(
      planFor(doc(), 'lookup'),
      { arguments: { q: 'angers' }, remainingMs: 10_000, config: { 'Config-Tenant': TENANT } },
      { secrets: resolver(), limits },
    );

    // The third step answers 404: the run fails there, after the first two succeeded.
    expect(out.ok).toBe(false);
    expect(out.errorCode).toBe('workflow.step_failed');
    expect(walk(out.tree)).toEqual([
      'flow.run lookup',
      '  step.run lookup/poll',
      '    action.run lookup/poll',
      '    action.run lookup/poll',
      '  step.run lookup/details',
      '    action.run lookup/details',
      '  step.run lookup/missing',
      '    action.run lookup/missing',
    ]);
    const [flow] = out.tree;
    expect(flow).toMatchObject({ status: 'error', outcome: 'failed', errorCode: 'step_failed' });
    const [poll, details, missing] = flow!.children;
    expect(poll).toMatchObject({ status: 'ok', outcome: 'success', attempts: 2, retries: 1, action: 'next' });
    expect(poll!.children.map((a) => [a.attempt, a.httpStatus, a.action, a.method])).toEqual([
      [1, 202, 'retry', 'GET'],
      [2, 200, 'next', 'GET'],
    ]);
    expect(poll!.children[0]!.urlTemplate).toBe(`${base}/poll?key=$secrets.API_KEY&q=$inputs.q`);
    expect(poll!.children[0]!.url).toMatch(new RegExp(`^${base}/poll\\?key=\\[(REDACTED|redacted)\\]&q=angers$`));
    expect(details!.children[0]).toMatchObject({ httpStatus: 200, urlTemplate: `${base}/items/$config.tenant` });
    expect(details!.children[0]!.url).toMatch(new RegExp(`^${base}/items/\\[(REDACTED|redacted)\\]$`));
    expect(missing).toMatchObject({
      status: 'error',
      outcome: 'failure',
      action: 'fail',
      attempts: 1,
      retries: 0,
      errorCode: 'step_failed',
    });
    expect(missing!.children[0]).toMatchObject({ httpStatus: 404, action: 'fail', status: 'error' });
    for (const n of [flow!, poll!, details!, ...poll!.children]) {
      expect(typeof n.durationMs).toBe('number');
      expect(Number.isNaN(Date.parse(n.startedAt))).toBe(false);
    }

    // The flat step list of the record: one entry per HTTP attempt.
    expect(out.steps.map((s) => [s.name, s.attempt, s.status])).toEqual([
      ['lookup/poll', 1, 202],
      ['lookup/poll', 2, 200],
      ['lookup/details', 1, 200],
      ['lookup/missing', 1, 404],
    ]);
    // No request or response bodies in what the record keeps (the poll answered {"ready": …}).
    expect(JSON.stringify({ steps: out.steps, tree: out.tree })).not.toMatch(/ready|echo/);
    const everything = JSON.stringify(out);
    expect(everything).toContain('angers'); // the search covers real data
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(TENANT);
    expect(everything).not.toContain(encodeURIComponent(TENANT));
  });

  it('with captureExchange (a debug session): one capture per HTTP attempt, named and numbered like the record steps, redacted with every sensitive value', async () => {
    polls = 0;
    const seen: string[][] = [];
    const out = await runWorkflowTool(
      planFor(doc(), 'lookup'),
      {
        arguments: { q: 'angers' },
        remainingMs: 10_000,
        config: { 'Config-Tenant': TENANT },
        captureExchange: (request, outcome, sensitive) => {
          seen.push(sensitive);
          const body = outcome.kind === 'response' ? new TextDecoder().decode(outcome.body) : '';
          const scrub = (t: string) => sensitive.reduce((acc, v) => acc.split(v).join('[redacted]'), t);
          return {
            request: { headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, scrub(v)])) },
            response: { status: outcome.kind === 'response' ? outcome.status : undefined, body: scrub(body) },
          };
        },
      },
      { secrets: resolver(), limits },
    );
    expect(out.debugSteps!.map((d) => [d.name, d.attempt, d.response?.status])).toEqual([
      ['lookup/poll', 1, 202],
      ['lookup/poll', 2, 200],
      ['lookup/details', 1, 200],
      ['lookup/missing', 1, 404],
    ]);
    // Redaction happens after the run, with the secret and the Config-* value known.
    expect(seen.every((s) => s.includes(SECRET) && s.includes(TENANT))).toBe(true);
    expect(JSON.stringify(out.debugSteps)).not.toContain(SECRET);
    expect(out.debugSteps![2]!.response!.body).toContain('[redacted]');
  });

  it('without captureExchange, no captures at all', async () => {
    polls = 1;
    const out = await runWorkflowTool(
      planFor(doc(), 'lookup'),
      { arguments: { q: 'x' }, remainingMs: 10_000 },
      { secrets: resolver(), limits },
    );
    expect(out.debugSteps).toBeUndefined();
  });

  it('returns only the declared outputs as structuredContent, with echoed secrets and Config-* values redacted', async () => {
    polls = 1; // the poll answers 200 at once
    const d = doc();
    d.flows[0]!.steps.pop(); // without the failing step
    const out = await runWorkflowTool(
      planFor(d, 'lookup'),
      { arguments: { q: 'x' }, remainingMs: 10_000, config: { 'Config-Tenant': TENANT } },
      { secrets: resolver(), limits },
    );
    expect(out.ok).toBe(true);
    expect(out.result.isError).toBeUndefined();
    expect(Object.keys(out.result.structuredContent ?? {})).toEqual(['echoed']);
    expect(out.result.structuredContent!.echoed).toMatch(
      /^tenant \[(REDACTED|redacted)\] key \[(REDACTED|redacted)\]$/,
    );
    expect(out.tree[0]).toMatchObject({ kind: 'flow.run', status: 'ok', outcome: 'completed' });
    expect(out.tree[0]!.children.map((s) => s.action)).toEqual(['next', 'next']);
  });

  it('fails before any request when a secret the workflow uses does not exist, naming it but no value', async () => {
    polls = 1;
    const empty = new SecretResolver({ get: async () => undefined }, 0);
    const out = await runWorkflowTool(
      planFor(doc(), 'lookup'),
      { arguments: {}, remainingMs: 10_000 },
      { secrets: empty, limits },
    );
    expect(out.ok).toBe(false);
    expect(out.errorCode).toBe('workflow.secret_missing');
    expect(out.steps).toEqual([]);
    expect(String(out.result.content[0]!.text)).toContain('API_KEY');
  });
});

describe('where $secrets.NAME is read', () => {
  const whose = () => ({
    flower: '0.1',
    id: 'doc',
    flows: [
      {
        id: 'whose',
        steps: [
          {
            id: 'ask',
            request: { method: 'GET', url: `${base}/whose`, headers: { 'X-Key': '$secrets.API_KEY' } },
            outputs: { whose: '$response.body.whose' },
          },
        ],
        outputs: { whose: '$steps.ask.outputs.whose' },
      },
    ],
  });
  const serverName = 'ws/w1/servers/s1/secrets/API_KEY';
  const workspaceName = 'ws/w1/secrets/API_KEY';
  const store = (names: string[]) =>
    new SecretResolver(
      {
        get: async (name) => (!names.includes(name) ? undefined : name === workspaceName ? WORKSPACE_SECRET : SECRET),
      },
      0,
    );
  const run = (names: string[], workspaceSecretNames?: Record<string, string>) =>
    runWorkflowTool(
      planFor(whose(), 'whose'),
      { arguments: {}, remainingMs: 10_000, ...(workspaceSecretNames ? { workspaceSecretNames } : {}) },
      { secrets: store(names), limits },
    );

  it("reads the server's secret first, then the workspace's, and redacts either value", async () => {
    const fallback = { API_KEY: workspaceName };
    expect((await run([serverName, workspaceName], fallback)).result.structuredContent).toEqual({ whose: 'server' });
    const shared = await run([workspaceName], fallback);
    expect(shared.result.structuredContent).toEqual({ whose: 'workspace' });
    expect(JSON.stringify(shared)).not.toContain(WORKSPACE_SECRET);
    const none = await run([], fallback);
    expect(none.errorCode).toBe('workflow.secret_missing');
  });

  it("never reads the workspace for a name the call gives no second place (an external user's own)", async () => {
    const out = await run([workspaceName]);
    expect(out.errorCode).toBe('workflow.secret_missing');
    expect(out.steps).toEqual([]);
  });
});

describe('runWorkflowTool and the execution lease', () => {
  const oneStep = () => ({
    flower: '0.1',
    id: 'doc',
    flows: [
      {
        id: 'one',
        steps: [
          {
            id: 'poll',
            request: { method: 'GET', url: `${base}/poll` },
            actions: [{ when: '$status == 202', do: 'retry', wait: 0, max_retry: 3 }],
          },
        ],
      },
    ],
  });

  it('awaits beforeFirstRequest once, before the first HTTP attempt (not again for retries)', async () => {
    polls = 0;
    const order: string[] = [];
    const out = await runWorkflowTool(
      planFor(oneStep(), 'one'),
      {
        arguments: {},
        remainingMs: 10_000,
        beforeFirstRequest: async () => void order.push(`lease before poll ${polls + 1}`),
      },
      { secrets: resolver(), limits },
    );
    expect(out.ok).toBe(true);
    expect(out.steps).toHaveLength(2); // the 202 and its retry
    expect(order).toEqual(['lease before poll 1']);
  });

  it('sends nothing when the lease cannot be written', async () => {
    polls = 0;
    const out = await runWorkflowTool(
      planFor(oneStep(), 'one'),
      {
        arguments: {},
        remainingMs: 10_000,
        beforeFirstRequest: async () => {
          throw new Error('Redis is gone');
        },
      },
      { secrets: resolver(), limits },
    );
    expect(out.ok).toBe(false);
    expect(polls).toBe(0);
  });
});
