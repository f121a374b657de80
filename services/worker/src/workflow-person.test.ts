import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { WorkflowPlan } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import { compileWorkflowDocument } from '@toolplane/workflow';
import { configureOutbound, parseOutboundAllow } from './outbound-guard.ts';
import { SecretResolver } from './secret-resolver.ts';
import type { PersonTokenSource } from './workflow-credentials.ts';
import { runWorkflowTool, WorkflowStopped } from './workflow-runner.ts';

/**
 * Workflow steps on an operation of a person's own account (ADR 0027), on a real local upstream with a fake token
 * source (the worker's own interface; the real one is processor.ts's `personToken`, tested end to end in
 * tests/e2e/identity/user-oauth-workflows.test.ts): the person's token is sent, a 401 asks for one refresh and sends once more,
 * and a person without a connection stops the run at that step with the source's error.
 */

const limits = { timeoutMs: 5_000, maxResponseBytes: 1024 * 1024 };
let upstream: Server;
let base: string;
/** Tokens the API accepts; every request, as `path authorization`. */
const valid = new Set<string>();
const seen: string[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const auth = String(req.headers.authorization ?? '');
    seen.push(`${req.url} ${auth}`);
    const ok = req.url !== '/events' || valid.has(auth.replace(/^Bearer /, ''));
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1'), maxRedirects: 0, connectTimeoutMs: 2_000 });
});

afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

function plan(): WorkflowPlan {
  const calendar = {
    openapi: '3.1.0',
    info: { title: 'Calendar', version: '1' },
    servers: [{ url: base }],
    components: {
      securitySchemes: {
        calendarAuth: {
          type: 'oauth2',
          flows: {
            authorizationCode: { authorizationUrl: `${base}/authorize`, tokenUrl: `${base}/token`, scopes: {} },
          },
          'x-toolplane-user-oauth': { authorizationUrl: `${base}/authorize`, tokenUrl: `${base}/token` },
        },
      },
    },
    paths: {
      '/before': { get: { operationId: 'before', security: [], responses: { 200: { description: 'ok' } } } },
      '/events': {
        get: {
          operationId: 'events',
          security: [{ calendarAuth: ['read'] }],
          responses: { 200: { description: 'ok' } },
        },
      },
      '/after': { get: { operationId: 'after', security: [], responses: { 200: { description: 'ok' } } } },
    },
  };
  const { ir } = compileWorkflowDocument(
    {
      arazzo: '1.0.1',
      info: { title: 'Agenda', version: '1' },
      sourceDescriptions: [{ name: 'calendar', url: 'toolplane:connectors/calendar', type: 'openapi' }],
      workflows: [
        {
          workflowId: 'agenda',
          steps: [
            { stepId: 'first', operationId: 'before' },
            { stepId: 'events', operationId: 'events', outputs: { path: '$response.body#/path' } },
            { stepId: 'last', operationId: 'after' },
          ],
          outputs: { path: '$steps.events.outputs.path' },
        },
      ],
    },
    {
      references: [{ location: 'toolplane:connectors/calendar', content: calendar }],
      connectors: { calendar: {} },
    },
  );
  return {
    kind: 'workflow',
    deploymentId: 'dep-1',
    workflowId: 'agenda',
    ir: ir as unknown as Record<string, unknown>,
    secretNames: {},
    connectors: {
      calendar: {
        instanceId: 'inst-1',
        secrets: { client_id: 'ws/w1/ci/inst-1/client_id', client_secret: 'ws/w1/ci/inst-1/client_secret' },
        userSecrets: {},
      },
    },
  };
}

const secrets = () =>
  new SecretResolver(
    {
      get: async (name) =>
        ({ 'ws/w1/ci/inst-1/client_id': 'app-id', 'ws/w1/ci/inst-1/client_secret': 'app-secret' })[name],
    },
    0,
  );

const run = (personToken: PersonTokenSource) =>
  runWorkflowTool(plan(), { arguments: {}, remainingMs: 10_000, personToken }, { secrets: secrets(), limits });

describe("workflow steps on a person's own account", () => {
  it("send the person's token (the app read from the instance), and only on that step", async () => {
    valid.add('tok-1');
    seen.length = 0;
    const asked: unknown[] = [];
    const out = await run(async ({ instanceId, auth, app, stale }) => {
      const client = await app();
      asked.push({ instanceId, scopes: auth.scopes, clientId: client.clientId, stale });
      return { token: 'tok-1', client };
    });
    expect(out.ok).toBe(true);
    expect(out.result.structuredContent).toEqual({ path: '/events' });
    expect(seen).toEqual(['/before ', '/events Bearer tok-1', '/after ']);
    expect(asked).toEqual([{ instanceId: 'inst-1', scopes: ['read'], clientId: 'app-id', stale: undefined }]);
  });

  it('a 401: the refused token is passed back as stale once, and the step sent once more with the new one', async () => {
    valid.clear();
    valid.add('tok-3');
    seen.length = 0;
    const stales: (string | undefined)[] = [];
    const out = await run(async ({ app, stale }) => {
      stales.push(stale);
      return { token: stale === undefined ? 'tok-2' : 'tok-3', client: await app() };
    });
    expect(out.ok).toBe(true);
    expect(stales).toEqual([undefined, 'tok-2']);
    expect(seen).toEqual(['/before ', '/events Bearer tok-2', '/events Bearer tok-3', '/after ']);
    // The tokens and the app's secret are scrubbed from everything the run reports.
    expect(JSON.stringify(out)).not.toMatch(/tok-2|tok-3|app-secret/);
  });

  it('a second 401 is the step’s answer: no further refresh', async () => {
    valid.clear();
    seen.length = 0;
    let asked = 0;
    const out = await run(async ({ app }) => ({ token: `tok-x${++asked}`, client: await app() }));
    expect(out.ok).toBe(false);
    expect(asked).toBe(2);
    expect(seen.filter((s) => s.startsWith('/events'))).toHaveLength(2);
  });

  it("no connection: the run stops at that step with the source's error and the attempts made before it", async () => {
    seen.length = 0;
    const refusal = new UserError('connection.required', 'User "bob" has not connected their own account');
    const stopped = await run(async () => {
      throw refusal;
    }).catch((err: unknown) => err);
    expect(stopped).toBeInstanceOf(WorkflowStopped);
    expect((stopped as WorkflowStopped).cause).toBe(refusal);
    expect((stopped as WorkflowStopped).steps).toEqual([
      expect.objectContaining({ name: 'agenda/first', status: 200, outcome: 'response' }),
    ]);
    expect(seen).toEqual(['/before ']);
  });
});
