import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { WorkflowPlan } from '@toolplane/contracts';
import { compileWorkflowDocument, type WorkflowDocumentIR } from '@toolplane/workflow';
import { configureOutbound, parseOutboundAllow } from './outbound-guard.ts';
import { SecretResolver } from './secret-resolver.ts';
import { runWorkflowTool } from './workflow-runner.ts';

/**
 * A connector instance's credentials on workflow steps go to the origin the compiler bound them to, nowhere else
 *, checked by the worker where it adds them: on two real local upstreams (the instance's and another
 * port), a step whose URL leaves that origin (an IR compiled before the compiler refused `servers` overrides, or
 * altered) fails before anything is read or sent, naming both origins.
 */

const KEY = 'vk-origin-7f3a91';
const limits = { timeoutMs: 5_000, maxResponseBytes: 1024 * 1024 };
let home: Server;
let elsewhere: Server;
let homeUrl: string;
let elsewhereUrl: string;
/** Every request either upstream received: `<which> <path> <x-vault-key>`. */
const received: string[] = [];
/** Every secret name the worker read. */
const reads: string[] = [];

async function listen(name: string): Promise<[Server, string]> {
  const server = createServer((req, res) => {
    received.push(`${name} ${req.url} ${String(req.headers['x-vault-key'] ?? '-')}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: `pet from ${name}` }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`];
}

beforeAll(async () => {
  [home, homeUrl] = await listen('home');
  [elsewhere, elsewhereUrl] = await listen('elsewhere');
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1'), maxRedirects: 0, connectTimeoutMs: 2_000 });
});

afterAll(async () => {
  await new Promise<void>((r) => home.close(() => r()));
  await new Promise<void>((r) => elsewhere.close(() => r()));
});

const vault = () => ({
  openapi: '3.1.0',
  info: { title: 'Vault', version: '1' },
  servers: [{ url: 'https://vault.example/v1' }],
  components: { securitySchemes: { vault_key: { type: 'apiKey', in: 'header', name: 'X-Vault-Key' } } },
  security: [{ vault_key: [] }],
  paths: {
    '/pets/{id}': {
      get: {
        operationId: 'vaultPet',
        parameters: [{ name: 'id', in: 'path', required: true }],
        responses: { 200: { description: 'ok' } },
      },
    },
  },
});

/** The workflow compiled with the instance's base URL (the only place its key may go). */
function compiled(): WorkflowDocumentIR {
  return compileWorkflowDocument(
    {
      arazzo: '1.0.1',
      info: { title: 'Vault lookup', version: '1' },
      sourceDescriptions: [{ name: 'vault', url: 'toolplane:connectors/vault', type: 'openapi' }],
      workflows: [
        {
          workflowId: 'find',
          steps: [
            {
              stepId: 'fetch',
              operationId: 'vaultPet',
              parameters: [{ name: 'id', in: 'path', value: '7' }],
              outputs: { name: '$response.body#/name' },
            },
          ],
          outputs: { name: '$steps.fetch.outputs.name' },
        },
      ],
    },
    {
      references: [{ location: 'toolplane:connectors/vault', content: vault() }],
      connectors: { vault: { baseUrl: `${homeUrl}/vault`, instance: 'eu' } },
    },
  ).ir;
}

function plan(ir: WorkflowDocumentIR): WorkflowPlan {
  return {
    kind: 'workflow',
    deploymentId: 'dep-1',
    workflowId: 'find',
    ir: ir as unknown as Record<string, unknown>,
    secretNames: {},
    connectors: { vault: { instanceId: 'inst-1', secrets: { vault_key: 'ws/w1/ci/inst-1/vault_key' } } },
  };
}

const secrets = () =>
  new SecretResolver(
    {
      get: async (name) => {
        reads.push(name);
        return name === 'ws/w1/ci/inst-1/vault_key' ? KEY : undefined;
      },
    },
    0,
  );

const run = (ir: WorkflowDocumentIR) =>
  runWorkflowTool(plan(ir), { arguments: {}, remainingMs: 10_000 }, { secrets: secrets(), limits });

/** The step's target, to alter as an old or tampered IR would have it. */
const target = (ir: WorkflowDocumentIR) => {
  const t = ir.workflows[0]!.steps[0]!.target;
  if (t.kind !== 'http') throw new Error('an HTTP step was expected');
  return t;
};

describe('connector instance credentials on workflow steps', () => {
  it('go to the instance’s base URL, bound to its origin', async () => {
    received.length = 0;
    const ir = compiled();
    expect(target(ir).credentials).toEqual({ origin: homeUrl, headers: { 'X-Vault-Key': '{vault_key}' } });
    const out = await run(ir);
    expect(out.ok).toBe(true);
    expect(received).toEqual([`home /vault/pets/7 ${KEY}`]);
  });

  it('are never sent to another origin: the step fails before any value is read, naming both origins', async () => {
    received.length = 0;
    reads.length = 0;
    // As a `servers` override made it before the compiler refused it: the URL on another port, the origin kept.
    const ir = compiled();
    target(ir).url = `${elsewhereUrl}/pets/{id}`;
    const out = await run(ir);
    expect(out.ok).toBe(false);
    expect(out.errorCode).toBe('workflow.upstream_blocked');
    const text = String(out.result.content[0]!.text);
    expect(text).toContain(
      `the connector instance credentials of source "vault" are bound to ${homeUrl} (the instance’s base URL), ` +
        `but this request goes to ${elsewhereUrl}: not sent`,
    );
    expect(received).toEqual([]);
    expect(reads).toEqual([]);
    expect(out.steps).toEqual([expect.objectContaining({ name: 'find/fetch', outcome: 'unreachable' })]);
  });

  it('are refused on a step compiled before origins were bound (a catalog from before the upgrade), or with a Host header', async () => {
    received.length = 0;
    reads.length = 0;
    // Exactly what the compiler produced for a `servers` override before credentials were bound to their instance's origin: no origin, the override's URL.
    const old = compiled();
    const { origin: _dropped, ...unbound } = target(old).credentials!;
    target(old).credentials = unbound;
    target(old).url = `${elsewhereUrl}/pets/{id}`;
    const legacy = await run(old);
    expect(legacy.ok).toBe(false);
    expect(String(legacy.result.content[0]!.text)).toContain(
      'were compiled before they were bound to the instance’s origin: deploy the workflow again',
    );
    // A Host header the document slipped in (the compiler refuses it too).
    const hosted = compiled();
    hosted.workflows[0]!.steps[0]!.parameters.push({ name: 'Host', in: 'header', value: 'collector.example' });
    const fronted = await run(hosted);
    expect(fronted.ok).toBe(false);
    expect(String(fronted.result.content[0]!.text)).toContain('are not sent with a Host header set by the step');
    expect(received).toEqual([]);
    expect(reads).toEqual([]);
  });
});
