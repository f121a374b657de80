import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { repoRoot, type Stack } from '@toolplane/cli';
import { createManagementClient, unwrap, type ManagementClient } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { startStreamableMcpServer, type ExternalMcpServer } from '../../fixtures/mcp-servers.ts';
import { startTestStack, tempDir, yamlBody } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { logLines } from '../../helpers/records.ts';

/**
 * The workspace as files (ADR 0042, docs/gitops.md), with the CLI (from the sources; tests/e2e/cli.test.ts runs the
 * packed one) against the real stack: a workspace with every kind of resource is exported, applied to a new empty
 * workspace and exported again (the same bytes); a second apply changes nothing (no audit event); a change made
 * through the API shows in the next plan as exactly that field; a directory with broken files is refused whole.
 */

const TICKETS_KEY = 'files-upstream-key-3f1a';
const DOCS_TOKEN = 'files-docs-token-9c2b';
const SIGNING = 'files-signing-secret-51d0';
const CLIENT_SECRET = 'files-oauth-client-secret-77e4';
const secretValues = [TICKETS_KEY, DOCS_TOKEN, SIGNING, CLIENT_SECRET];

let stack: Stack;
let admin: ManagementClient;
let upstream: TicketSystem;
let docs: ExternalMcpServer;
let work: string;
const a = { key: '', api: undefined as unknown as ManagementClient };
const b = { key: '', api: undefined as unknown as ManagementClient };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `toolplane <args>` from the sources, as the key's workspace, with `env` added (values of references). */
function cli(key: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return run(key, ['--conditions=@toolplane/source', join(repoRoot, 'packages/cli/src/main.ts'), ...args], env);
}

/** A node script with the CLI's environment (the Kubernetes Job's `apply.mjs` takes the same two variables). */
function run(key: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, args, {
    cwd: work,
    env: {
      PATH: process.env.PATH,
      XDG_CONFIG_HOME: work,
      NO_COLOR: '1',
      TOOLPLANE_URL: stack.controlPlaneUrl,
      TOOLPLANE_API_KEY: key,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Every file under `dir`, path → text. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

type Event = {
  action: string;
  resource: { type: string };
  outcome: string;
  changes: Record<string, unknown> | null;
  details: unknown;
};

/**
 * Apply writes through the API's own operations (ADR 0047): each event of B's apply has the action, resource type,
 * outcome and changed fields of an event A's API calls wrote for the same kind of change, and says it came from apply.
 */
async function sameAuditEvents(): Promise<void> {
  const events = async (api: ManagementClient) =>
    (await unwrap(api.GET('/audit_events', { params: { query: { limit: 500 } } }))).data as unknown as Event[];
  const shape = (e: Event) =>
    `${e.action} ${e.resource.type} ${e.outcome} ${Object.keys(e.changes ?? {})
      .sort()
      .join(',')}`;
  const fromApi = new Set((await events(a.api)).map(shape));
  const fromApply = (await events(b.api)).filter(
    (e) => (e.details as { via?: string } | null)?.via === 'workspace.apply',
  );
  expect(fromApply.length).toBeGreaterThan(10);
  expect(fromApply.map(shape).filter((s) => !fromApi.has(s))).toEqual([]);
}

/** The id of the workspace's newest audit event. */
async function newestEvent(api: ManagementClient): Promise<string | undefined> {
  return (await unwrap(api.GET('/audit_events', { params: { query: { limit: 1 } } }))).data[0]?.id;
}

const flower = `flower: "0.1"
id: probe
flows:
  - id: probe
    steps:
      - id: get
        request:
          method: GET
          url: http://127.0.0.1:9/probe
`;

const calendar = `kind: openapi
slug: calendar-api
user_oauth: true
document:
  openapi: 3.0.3
  info: { title: Calendar API, version: 1.0.0 }
  servers: [{ url: "http://127.0.0.1:9/api" }]
  components:
    securitySchemes:
      calendarAuth:
        type: oauth2
        flows:
          authorizationCode:
            authorizationUrl: http://127.0.0.1:9/authorize
            tokenUrl: http://127.0.0.1:9/token
            scopes: { calendar.read: Read your calendar }
  paths:
    /events:
      get:
        operationId: my_events
        summary: My calendar events
        security: [{ calendarAuth: [calendar.read] }]
        responses: { "200": { description: the events } }
`;

/** Workspace A: every kind of resource, made through the API as a person would. */
async function buildWorkspaceA(api: ManagementClient): Promise<void> {
  await unwrap(api.PUT('/secrets/{name}', { params: { path: { name: 'TICKETS_SIGNING' } }, body: { value: SIGNING } }));
  await unwrap(
    api.POST('/external_mcp_servers', {
      body: {
        name: 'docs',
        url: docs.url,
        headers: { Authorization: `Bearer ${DOCS_TOKEN}` },
        onChange: 'withhold',
        notifyWebhookUrl: 'https://hooks.example.com/pins',
      },
    }),
  );
  await unwrap(
    api.PUT('/role_mappings', {
      body: {
        groupsClaim: 'teams',
        assignments: [
          { group: 'platform', roles: ['operator'] },
          { subject: 'auth0|lead', roles: ['admin', 'approver'] },
        ],
      },
    }),
  );
  // A route's data-flow labels (ADR 0078): part of the connector's document, in its file as is.
  const labelledTickets = ticketSystemDescriptorYaml.replace(
    /(mcp_tool_name: create_ticket\n(\s*)mcp_tool_description: [^\n]*\n)/,
    '$1$2labels: [external_write]\n',
  );
  expect(labelledTickets).toContain('labels: [external_write]');
  const tickets = await unwrap(api.POST('/connectors', yamlBody(labelledTickets)));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: {
        connector_id: tickets.id,
        name: 'tickets',
        base_url: upstream.url,
        createServer: false,
        credentials: { api_key: TICKETS_KEY },
      },
    }),
  );
  const ticketsServer = await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: 'tickets',
        mode: 'NORMAL',
        connectorInstanceId: instance.id,
        confirmTools: ['create_ticket'],
        // Results shaped for models and the labels every result brings: part of the server's config, in its file.
        config: {
          resultShapes: { search_tickets: { projection: '[].{id: id, title: title}', maxItems: 5 } },
          dataLabels: ['private'],
        },
      },
    }),
  );
  const cal = await unwrap(api.POST('/connectors', yamlBody(calendar)));
  await unwrap(
    api.POST('/connector_instances', {
      body: {
        connector_id: cal.id,
        name: 'calendar',
        createServer: false,
        credentials: { client_id: 'files-client', client_secret: CLIENT_SECRET },
      },
    }),
  );
  const combo = await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: 'combo',
        mode: 'NORMAL',
        externalMcpServers: [{ name: 'docs', tools: [] }],
        // An external server configured on the server itself: its header value is a reference in the file too.
        externalMcpConfigs: [{ name: 'wiki', url: docs.url, headers: { Authorization: `Bearer ${DOCS_TOKEN}` } }],
        description: 'docs and more',
      },
    }),
  );
  const flows = await unwrap(api.POST('/mcp_manager', { body: { name: 'flows', mode: 'NORMAL' } }));
  await unwrap(
    api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: flows.id } }, body: { definition: flower } }),
  );
  await unwrap(api.POST('/external_users', { body: { name: 'alice', attributes: { team: 'support' } } }));
  const ci = await unwrap(api.POST('/api_keys', { body: { name: 'ci', scopes: ['runtime'], serverIds: [combo.id] } }));
  // Approvals by a key and a person named in the server's file; both are applied after servers, so an apply to an
  // empty workspace writes the rule in a step of its own once they exist.
  const approver = await unwrap(api.POST('/api_keys', { body: { name: 'approver', scopes: ['management'] } }));
  await unwrap(
    api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: ticketsServer.id } },
      body: {
        approvalTools: ['create_ticket'],
        approvalRule: {
          approvers: { apiKeys: [approver.id], subjects: ['auth0|lead'], people: ['alice'] },
          approvals: 2,
          notify: [{ url: 'https://hooks.example.com/approvals', format: 'slack' }],
        },
      },
    }),
  );
  await unwrap(
    api.POST('/access_policies', {
      body: {
        name: 'small-searches',
        principals: [{ type: 'api_key', value: ci.id }],
        servers: [ticketsServer.id],
        tools: ['search_tickets'],
        condition: 'args.limit <= 10',
        // Larger searches wait for the approver (by name in the file, as the server's rule names it).
        onFalse: 'require_approval',
        approval: { approvers: { apiKeys: [approver.id] } },
      },
    }),
  );
  await unwrap(
    api.POST('/quotas', {
      body: {
        name: 'ci-daily',
        match: { servers: [ticketsServer.id], apiKeys: [ci.id], people: ['alice'], tools: ['search_tickets'] },
        counts: 'cost',
        limit: 100,
        window: 'day',
        timeZone: 'Europe/Berlin',
        per: 'person',
      },
    }),
  );
  // Guardrails: one for the workspace (the API's defaults), one for a tool of a server with every field set.
  await unwrap(
    api.POST('/guardrails', { body: { name: 'no-keys', detectors: [{ kind: 'secrets' }], action: 'redact' } }),
  );
  await unwrap(
    api.POST('/guardrails', {
      body: {
        name: 'ticket-cards',
        description: 'cards and order numbers stay out',
        serverId: ticketsServer.id,
        tools: ['search_tickets'],
        detectors: [
          { kind: 'pii', types: ['card', 'iban'] },
          { kind: 'custom', label: 'order', patterns: ['ORD-[0-9]{6}'] },
        ],
        action: 'block',
        on: ['results', 'arguments'],
        enforce: false,
        maxBytes: 65536,
      },
    }),
  );
  // An enterprise IdP (ADR 0082): its file never holds the client secret.
  const idp = await unwrap(
    api.POST('/enterprise_idps', {
      body: {
        name: 'acme',
        issuer: 'https://idp.acme.example',
        jwksUrl: 'https://idp.acme.example/keys',
        clientId: 'agent',
      },
    }),
  );
  secretValues.push(idp.clientSecret!);
}

/** A workspace's guardrails as comparable across workspaces: by name, their server by name, no ids or times. */
async function guardrailsOf(api: ManagementClient) {
  const servers = new Map((await unwrap(api.GET('/mcp_manager'))).data.map((s) => [s.id, s.name]));
  return (await unwrap(api.GET('/guardrails'))).data
    .map(({ id: _id, createdAt: _c, updatedAt: _u, serverId, ...g }) => ({
      ...g,
      server: serverId ? servers.get(serverId) : null,
    }))
    .sort((x, y) => x.name.localeCompare(y.name));
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: TICKETS_KEY });
  docs = await startStreamableMcpServer({
    tools: [
      {
        name: 'lookup',
        description: 'Look a page up',
        inputSchema: { type: 'object', properties: { q: { type: 'string' } } },
      },
    ],
    requiredHeader: ['authorization', `Bearer ${DOCS_TOKEN}`],
  });
  ({ stack, api: admin } = await startTestStack('workspace-files'));
  work = tempDir('workspace-files');
  for (const [w, name] of [
    [a, 'files-a'],
    [b, 'files-b'],
  ] as const) {
    w.key = (await unwrap(admin.POST('/workspaces', { body: { name } }))).apiKey.key;
    w.api = createManagementClient(stack.controlPlaneUrl, w.key);
  }
  await buildWorkspaceA(a.api);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await docs?.close();
  await upstream?.close();
});

/** The values apply needs: some from the environment, the others from a values file. */
const valuesEnv = {
  TICKETS_API_KEY: TICKETS_KEY,
  DOCS_AUTHORIZATION: `Bearer ${DOCS_TOKEN}`,
  COMBO_WIKI_AUTHORIZATION: `Bearer ${DOCS_TOKEN}`,
};
function valuesFile(): string {
  const file = join(work, 'values.env');
  writeFileSync(
    file,
    `# apply's values\nCALENDAR_CLIENT_ID=files-client\nCALENDAR_CLIENT_SECRET=${CLIENT_SECRET}\nTICKETS_SIGNING=${SIGNING}\n`,
  );
  return file;
}

describe('workspace files', () => {
  it('round trip: export, apply to an empty workspace, export again: the same files; a second apply changes nothing', async () => {
    const dirA = join(work, 'a');
    const exported = await cli(a.key, ['export', dirA]);
    expect(exported).toMatchObject({ code: 0, stderr: '' });
    const files = tree(dirA);
    expect(Object.keys(files)).toEqual(
      expect.arrayContaining([
        'secrets.yaml',
        'external-mcp-servers/docs.yaml',
        'connectors/ticket-system@1.0.0.yaml',
        'connectors/calendar-api@1.0.0.yaml',
        'connector-instances/tickets.yaml',
        'connector-instances/calendar.yaml',
        'mcp-servers/combo.yaml',
        'mcp-servers/flows.yaml',
        'deployments/flows.yaml',
        'external-users/alice.yaml',
        'api-keys/ci.yaml',
        'api-keys/initial.yaml',
        'access-policies/small-searches.yaml',
        'quotas/ci-daily.yaml',
        'enterprise-idps/acme.yaml',
        'guardrails/no-keys.yaml',
        'guardrails/ticket-cards.yaml',
        'role-mappings.yaml',
        'session.yaml',
      ]),
    );
    // A new workspace's session settings (ADR 0078): the default rule, log only, approved by its first key (by name).
    expect(files['session.yaml']).toContain('id: private-or-untrusted-then-send\n');
    expect(files['session.yaml']).toContain('      approvers:\n        apiKeys:\n          - initial\n');
    expect(files['session.yaml']).toMatch(/\n {4}enforce: false\n/);
    expect(files['session.yaml']).not.toContain('version');
    // The role mapping is PUT /role_mappings' body; an external server's review settings are written out.
    expect(files['role-mappings.yaml']).toBe(
      'groupsClaim: teams\nassignments:\n  - group: platform\n    roles:\n      - operator\n' +
        '  - subject: auth0|lead\n    roles:\n      - admin\n      - approver\n',
    );
    expect(files['external-mcp-servers/docs.yaml']).toContain(
      'autoAccept: false\nonChange: withhold\nnotifyWebhookUrl: https://hooks.example.com/pins\n',
    );
    // A guardrail names its server by name, and says every field (the API's defaults included).
    expect(files['guardrails/ticket-cards.yaml']).toBe(
      'name: ticket-cards\ndescription: cards and order numbers stay out\nserver: tickets\ntools:\n  - search_tickets\n' +
        'detectors:\n  - kind: pii\n    types:\n      - card\n      - iban\n  - kind: custom\n    label: order\n' +
        '    patterns:\n      - ORD-[0-9]{6}\naction: block\non:\n  - results\n  - arguments\nenforce: false\n' +
        'maxBytes: 65536\n',
    );
    expect(files['guardrails/no-keys.yaml']).toBe(
      'name: no-keys\ndescription: null\nserver: null\ntools: []\ndetectors:\n  - kind: secrets\naction: redact\n' +
        'on:\n  - results\nenforce: true\nmaxBytes: null\n',
    );
    expect(files['mcp-servers/tickets.yaml']).toContain(
      'config:\n  dataLabels:\n    - private\n  resultShapes:\n    search_tickets:\n      maxItems: 5\n' +
        '      projection: "[].{id: id, title: title}"\n',
    );
    // A quota names its servers and keys by name, and says every field (the API's defaults included).
    expect(files['quotas/ci-daily.yaml']).toBe(
      'name: ci-daily\ndescription: null\nmatch:\n  apiKeys:\n    - ci\n  people:\n    - alice\n  servers:\n' +
        '    - tickets\n  tools:\n    - search_tickets\ncounts: cost\nlimit: 100\nwindow: day\n' +
        'timeZone: Europe/Berlin\nper: person\nenforce: true\nalertWebhookUrl: null\n',
    );
    // An enterprise IdP's file: the create body, the default user claim written out, never the client secret.
    expect(files['enterprise-idps/acme.yaml']).toBe(
      'name: acme\nissuer: https://idp.acme.example\njwksUrl: https://idp.acme.example/keys\nclientId: agent\n' +
        'userClaim: sub\n',
    );
    // A server's approval rule names its keys by name, every field written out.
    expect(files['mcp-servers/tickets.yaml']).toContain(
      'approvalTools:\n  - create_ticket\napprovalRule:\n  approvers:\n    apiKeys:\n      - approver\n' +
        '    subjects:\n      - auth0|lead\n    people:\n      - alice\n  approvals: 2\n  expiresInSeconds: 86400\n' +
        '  notify:\n    - url: https://hooks.example.com/approvals\n      format: slack\n',
    );
    expect(files['mcp-servers/combo.yaml']).toContain('approvalTools: []\napprovalRule: null\n');
    expect(files['connector-instances/tickets.yaml']).toContain('api_key: ${env:TICKETS_API_KEY}');
    expect(files['mcp-servers/combo.yaml']).toContain('Authorization: ${env:COMBO_WIKI_AUTHORIZATION}');
    expect(files['access-policies/small-searches.yaml']).toContain(
      'condition: args.limit <= 10\nonFalse: require_approval\napproval:\n  approvers:\n    apiKeys:\n      - approver\n',
    );
    expect(files['access-policies/small-searches.yaml']).toMatch(/\nenforce: true\n$/);
    expect(files['access-policies/small-searches.yaml']).toContain('approvals: 1\n');
    for (const text of Object.values(files)) for (const value of secretValues) expect(text).not.toContain(value);
    // A second export of the unchanged workspace: the same bytes.
    expect((await cli(a.key, ['export', dirA])).code).toBe(0);
    expect(tree(dirA)).toEqual(files);
    // Its own export plans as no changes (a drift check on day one must pass).
    const own = await cli(a.key, ['plan', dirA, '--values', valuesFile()], valuesEnv);
    expect(own.stdout).toContain('No changes: the workspace matches the files');
    expect(own.stdout).not.toContain('~ update');
    expect(own.stdout).toContain('= adopt server combo (mcp-servers/combo.yaml)');
    expect(own.code).toBe(0);

    const plan = await cli(b.key, ['plan', dirA, '--values', valuesFile()], valuesEnv);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('+ create server combo (mcp-servers/combo.yaml)');
    const applied = await cli(b.key, ['apply', dirA, '--values', valuesFile()], valuesEnv);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const dirB = join(work, 'b');
    expect((await cli(b.key, ['export', dirB])).code).toBe(0);
    expect(tree(dirB)).toEqual(files);
    const tickets = await unwrap(b.api.GET('/mcp_manager/{id}', { params: { path: { id: 'tickets' } } }));
    const bKeys = (await unwrap(b.api.GET('/api_keys'))).data;
    expect(tickets.approvalRule?.approvers.apiKeys).toEqual([bKeys.find((k) => k.name === 'approver')!.id]);
    const policies = (await unwrap(b.api.GET('/access_policies'))).data;
    expect(policies.find((p) => p.name === 'small-searches')).toMatchObject({
      onFalse: 'require_approval',
      approval: { approvers: { apiKeys: [bKeys.find((k) => k.name === 'approver')!.id] } },
    });
    expect(await guardrailsOf(b.api)).toEqual(await guardrailsOf(a.api));
    const idps = async (api: ManagementClient) =>
      (await unwrap(api.GET('/enterprise_idps'))).data.map(({ name, issuer, jwksUrl, clientId, userClaim }) => ({
        name,
        issuer,
        jwksUrl,
        clientId,
        userClaim,
      }));
    expect(await idps(b.api)).toEqual(await idps(a.api));
    const roles = async (api: ManagementClient) => {
      const { groupsClaim, assignments } = await unwrap(api.GET('/role_mappings'));
      return { groupsClaim, assignments };
    };
    expect(await roles(b.api)).toEqual(await roles(a.api));
    expect(await unwrap(b.api.GET('/external_mcp_servers/{id}', { params: { path: { id: 'docs' } } }))).toMatchObject({
      autoAccept: false,
      onChange: 'withhold',
      notifyWebhookUrl: 'https://hooks.example.com/pins',
    });
    expect(tickets.config).toEqual({
      resultShapes: { search_tickets: { projection: '[].{id: id, title: title}', maxItems: 5 } },
      dataLabels: ['private'],
    });
    // The labels of its tools, declared by the connector's route and classified by the server's config, came along.
    const ticketTools = await unwrap(b.api.GET('/mcp_manager/{id}/tools', { params: { path: { id: 'tickets' } } }));
    expect(ticketTools.data.find((t) => t.name === 'create_ticket')?.labels).toEqual([
      { label: 'private', source: 'classification' },
      { label: 'external_write', source: 'declared' },
    ]);
    const managed = await unwrap(b.api.GET('/workspace_files/managed'));
    expect(managed.data.find((m) => m.kind === 'server' && m.name === 'combo')).toMatchObject({
      file: 'mcp-servers/combo.yaml',
    });

    await sameAuditEvents();

    const before = await newestEvent(b.api);
    const again = await cli(b.key, ['plan', dirA]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes');
    const reapplied = await cli(b.key, ['apply', dirA, '--json']);
    expect(reapplied.code).toBe(0);
    expect(JSON.parse(reapplied.stdout)).toMatchObject({ outcome: 'unchanged' });
    expect(await newestEvent(b.api)).toBe(before);
  }, 60_000);

  it('drift: a change made through the API shows in the next plan as exactly that field', async () => {
    await unwrap(
      b.api.PATCH('/mcp_manager/{id}', { params: { path: { id: 'combo' } }, body: { description: 'changed by hand' } }),
    );
    const run = await cli(b.key, ['plan', join(work, 'a'), '--json']);
    expect(run.code).toBe(2);
    const plan = JSON.parse(run.stdout) as {
      changes: { kind: string; name: string; action: string; fields: string[] }[];
    };
    expect(plan.changes.filter((c) => c.action !== 'unchanged' && c.action !== 'unmanaged')).toEqual([
      { kind: 'server', name: 'combo', file: 'mcp-servers/combo.yaml', action: 'update', fields: ['description'] },
    ]);
    // Applying the files puts it back.
    expect((await cli(b.key, ['apply', join(work, 'a')])).code).toBe(0);
    expect((await unwrap(b.api.GET('/mcp_manager/{id}', { params: { path: { id: 'combo' } } }))).description).toBe(
      'docs and more',
    );
  }, 30_000);

  it('session.yaml: a rule the files switch to log only, or remove, is a change the plan shows', async () => {
    const initial = (await unwrap(b.api.GET('/api_keys'))).data.find((k) => k.name === 'initial')!.id;
    const rule = {
      id: 'private-or-untrusted-then-send',
      name: 'Approval to send data out after private or untrusted content',
      after: ['private' as const, 'untrusted' as const],
      toolLabels: ['external_write' as const, 'public_write' as const],
      action: 'require_approval' as const,
      approval: { approvers: { apiKeys: [initial] }, approvals: 1, expiresInSeconds: 3600 },
      enforce: true,
    };
    await unwrap(b.api.PUT('/session_settings', { body: { ttlSeconds: 86_400, rules: [rule] } }));
    type Planned = { changes: { kind: string; name: string; file: string; action: string; fields: string[] }[] };
    const changed = async (dir: string) => {
      const run = await cli(b.key, ['plan', dir, '--json']);
      return (JSON.parse(run.stdout) as Planned).changes.filter((c) => c.kind === 'session');
    };
    // Both loosen the rule (four eyes on loosening, ADR 0079: plan says so whether or not the setting is on).
    const update = [
      {
        kind: 'session',
        name: 'workspace',
        file: 'session.yaml',
        action: 'update',
        fields: ['rules'],
        loosens: true,
        loosenedFields: [`rules[${rule.id}]`],
      },
    ];
    // The files say log only (the exported default); the workspace enforces: applying them switches it back.
    expect(await changed(join(work, 'a'))).toEqual(update);
    // A file without the rule removes it.
    expect(await changed(directory('no-session-rule', { 'session.yaml': 'ttlSeconds: 86400\nrules: []\n' }))).toEqual(
      update,
    );
    expect((await cli(b.key, ['apply', join(work, 'a')])).code).toBe(0);
    expect((await unwrap(b.api.GET('/session_settings'))).rules.map((r) => r.enforce)).toEqual([false]);
  }, 30_000);

  it('a step that fails stops the apply, saying what was applied and what was not; a re-run finishes', async () => {
    const dir = join(work, 'partial');
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    };
    write('mcp-servers/late.yaml', 'name: late\nmode: NORMAL\n');
    // Valid to a plan, refused when applied: plan does not compile workflow documents (deploying one does, its sources
    // resolved then), and this one's request has a property Flower does not allow.
    const deployment = (definition: string) =>
      write('deployments/late.yaml', `server: late\ndefinition: |\n${definition.replace(/^/gm, '  ')}`);
    deployment(flower.replace('method: GET\n', 'method: GET\n          whatever: 1\n'));
    const server = (name: string, confirm: string) =>
      write(
        `mcp-servers/${name}.yaml`,
        `name: ${name}\nmode: NORMAL\nconnectorInstance: tickets\ntools: [search_tickets]\nconfirmTools: [${confirm}]\n`,
      );
    server('m-confirmed', 'delete_everything');
    write(
      'access-policies/to-late.yaml',
      'name: to-late\nprincipals: [{ type: external_user, value: alice }]\nservers: [late]\ntools: ["*"]\n',
    );
    // A condition naming an argument the tool does not have is a problem of the plan, before anything is applied; so is
    // a tool to confirm that the server would not expose (its step would be refused: the catalog is compiled strictly).
    write(
      'access-policies/typo.yaml',
      'name: typo\nprincipals: [{ type: external_user, value: alice }]\nservers: [tickets]\n' +
        'tools: [search_tickets]\ncondition: "args.limt <= 10"\n',
    );
    const refused = await cli(b.key, ['plan', dir, '--json']);
    expect(refused.code).toBe(3);
    expect(refused.stdout + refused.stderr).toMatch(/access-policies\/typo\.yaml.*condition/s);
    const errors = (JSON.parse(refused.stdout) as { error: { errors: { path: string; message: string }[] } }).error
      .errors;
    expect(errors).toContainEqual(
      expect.objectContaining({
        path: 'mcp-servers/m-confirmed.yaml#/confirmTools/0',
        message: expect.stringContaining('no tool "delete_everything" on this server'),
      }),
    );
    rmSync(join(dir, 'access-policies/typo.yaml'));
    // Apply plans first: the confirmTools problem alone refuses it whole, before anything changes.
    const before = await newestEvent(b.api);
    expect((await cli(b.key, ['apply', dir, '--json'])).code).toBe(3);
    expect(await newestEvent(b.api)).toBe(before);
    expect((await unwrap(b.api.GET('/mcp_manager'))).data.map((s) => s.name)).not.toContain('late');
    server('m-confirmed', 'search_tickets');

    const first = await cli(b.key, ['apply', dir, '--json']);
    expect(first.code).not.toBe(0);
    const result = JSON.parse(first.stdout) as {
      applied: { kind: string; name: string }[];
      failed: { kind: string; name: string; problem: { status: number; errors?: { path: string }[] } };
      notApplied: { kind: string; name: string }[];
    };
    const names = (list: { kind: string; name: string }[]) => list.map((c) => `${c.kind}/${c.name}`);
    expect(names(result.applied)).toEqual(['server/late', 'server/m-confirmed']);
    expect(names([result.failed])).toEqual(['workflow_deployment/late']);
    expect(result.failed.problem).toMatchObject({
      status: 422,
      errors: [expect.objectContaining({ path: '/flows/0/steps/0/request/whatever' })],
    });
    expect(names(result.notApplied)).toEqual(['access_policy/to-late']);
    expect((await unwrap(b.api.GET('/access_policies'))).data.map((p) => p.name)).not.toContain('to-late');
    // The file fixed, the same directory again applies what was left, and then nothing is pending.
    deployment(flower);
    const second = await cli(b.key, ['apply', dir, '--json']);
    expect(second.code).toBe(0);
    const finished = JSON.parse(second.stdout) as { applied: { kind: string; name: string }[] };
    expect(names(finished.applied)).toEqual(['workflow_deployment/late', 'access_policy/to-late']);
    expect((await cli(b.key, ['plan', dir])).code).toBe(0);
  }, 30_000);

  it('the Kubernetes Job’s script applies a ConfigMap’s files, and a second run changes nothing', async () => {
    // A ConfigMap volume: one file per key, `__` for `/`, beside the volume's own `..data` entries.
    const volume = join(work, 'configmap');
    mkdirSync(join(volume, '..data'), { recursive: true });
    writeFileSync(join(volume, 'mcp-servers__from-job.yaml'), 'name: from-job\nmode: NORMAL\n');
    const script = join(repoRoot, 'k8s/components/workspace-apply/apply.mjs');
    const first = await run(b.key, [script, volume]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('applied: create server from-job');
    const before = await newestEvent(b.api);
    const again = await run(b.key, [script, volume]);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/nothing to change/);
    expect(await newestEvent(b.api)).toBe(before); // nothing changed, nothing recorded
    expect((await unwrap(b.api.GET('/workspace_files/managed'))).data).toContainEqual(
      expect.objectContaining({ kind: 'server', name: 'from-job' }),
    );
  });

  it('bad input: plan lists every problem by file and path, apply changes nothing', async () => {
    const bad = join(work, 'bad');
    cpSync(join(work, 'a'), bad, { recursive: true });
    writeFileSync(join(bad, 'connectors/broken.yaml'), 'metadata:\n  slug: broken\n');
    const instance = join(bad, 'connector-instances/tickets.yaml');
    writeFileSync(
      instance,
      readFileSync(instance, 'utf8').replace('${env:TICKETS_API_KEY}', '${secret:MISSING_SECRET}'),
    );
    const server = join(bad, 'mcp-servers/combo.yaml');
    writeFileSync(server, readFileSync(server, 'utf8').replace('name: docs', 'name: nowhere'));
    // Approvals: a key nothing has, a tool the server does not expose, approval tools without a rule.
    writeFileSync(
      join(bad, 'mcp-servers/c-nokey.yaml'),
      'name: c-nokey\nmode: NORMAL\napprovalRule: { approvers: { apiKeys: [nobody], people: [zed] } }\n',
    );
    writeFileSync(
      join(bad, 'mcp-servers/c-approve.yaml'),
      'name: c-approve\nmode: NORMAL\nconnectorInstance: tickets\napprovalTools: [no_such_tool]\n' +
        'approvalRule: { approvers: { apiKeys: [ci] } }\n',
    );
    writeFileSync(join(bad, 'mcp-servers/c-norule.yaml'), 'name: c-norule\nmode: NORMAL\napprovalTools: [x]\n');
    // Quotas: fields the API refuses, names nothing has, a tool its server does not expose.
    writeFileSync(
      join(bad, 'quotas/bad-fields.yaml'),
      'name: bad-fields\nmatch: {}\ncounts: calls\nlimit: -1\ntimeZone: Mars/Olympus\n',
    );
    writeFileSync(
      join(bad, 'quotas/bad-names.yaml'),
      'name: bad-names\nmatch: { servers: [nowhere], apiKeys: [nobody], people: [zed] }\ncounts: in_flight\nlimit: 1\n',
    );
    writeFileSync(
      join(bad, 'quotas/bad-tool.yaml'),
      'name: bad-tool\nmatch: { servers: [tickets], tools: [no_such_tool, "search_*"] }\ncounts: in_flight\nlimit: 1\n',
    );
    // Guardrails: a pattern RE2 refuses (a backreference), a server nothing has, a tool its server does not expose.
    writeFileSync(
      join(bad, 'guardrails/bad-pattern.yaml'),
      "name: bad-pattern\ndetectors: [{ kind: custom, patterns: ['ok-[0-9]+', '(a)\\1'] }]\naction: block\n",
    );
    writeFileSync(
      join(bad, 'guardrails/bad-names.yaml'),
      'name: bad-names\nserver: nowhere\ndetectors: [{ kind: secrets }]\naction: flag\n',
    );
    writeFileSync(
      join(bad, 'guardrails/bad-tool.yaml'),
      'name: bad-tool\nserver: tickets\ntools: [no_such_tool, search_tickets]\ndetectors: [{ kind: secrets }]\n' +
        'action: flag\n',
    );
    // A result shape JMESPath cannot compile.
    writeFileSync(
      join(bad, 'mcp-servers/c-shaped.yaml'),
      'name: c-shaped\nmode: NORMAL\nconfig: { resultShapes: { search_tickets: { projection: "[].{id: id" } }, ' +
        'dataLabels: [private, secret] }\n',
    );
    // Roles: one nobody has; an assignment naming no one. Review: a setting the API does not know.
    writeFileSync(
      join(bad, 'role-mappings.yaml'),
      'assignments:\n  - { group: ops, roles: [owner] }\n  - { roles: [viewer] }\n',
    );
    const docsFile = join(bad, 'external-mcp-servers/docs.yaml');
    writeFileSync(docsFile, readFileSync(docsFile, 'utf8').replace('onChange: withhold', 'onChange: ignore'));
    await unwrap(
      b.api.PATCH('/external_users/{name}', {
        params: { path: { name: 'alice' } },
        body: { attributes: { team: 'sales' } },
      }),
    );

    const plan = await cli(b.key, ['plan', bad, '--json'], valuesEnv);
    expect(plan.code).toBe(3);
    const paths = (JSON.parse(plan.stdout) as { error: { errors: { path: string }[] } }).error.errors.map(
      (e) => e.path,
    );
    expect(paths).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^connectors\/broken\.yaml#/),
        'connector-instances/tickets.yaml#/credentials/api_key',
        'mcp-servers/combo.yaml#/externalMcpServers/0/name',
        'quotas/bad-fields.yaml#/limit',
        'quotas/bad-fields.yaml#/window',
        'quotas/bad-fields.yaml#/timeZone',
        'quotas/bad-names.yaml#/match/servers/0',
        'quotas/bad-names.yaml#/match/apiKeys/0',
        'quotas/bad-names.yaml#/match/people/0',
        'quotas/bad-tool.yaml#/match/tools/0',
        'mcp-servers/c-nokey.yaml#/approvalRule/approvers/apiKeys/0',
        'mcp-servers/c-nokey.yaml#/approvalRule/approvers/people/0',
        'mcp-servers/c-approve.yaml#/approvalTools/0',
        'mcp-servers/c-norule.yaml#/approvalRule',
        'guardrails/bad-pattern.yaml#/detectors/0/patterns/1',
        'guardrails/bad-names.yaml#/server',
        'guardrails/bad-tool.yaml#/tools/0',
        'mcp-servers/c-shaped.yaml#/config/resultShapes/search_tickets/projection',
        'mcp-servers/c-shaped.yaml#/config/dataLabels/1',
        'role-mappings.yaml#/assignments/0/roles/0',
        'role-mappings.yaml#/assignments/1',
        'external-mcp-servers/docs.yaml#/onChange',
      ]),
    );
    expect(paths.filter((p) => p.startsWith('quotas/'))).toHaveLength(7);
    expect(paths.filter((p) => p.startsWith('guardrails/'))).toHaveLength(3);
    expect(plan.stderr).toMatch(/guardrails\/bad-pattern\.yaml:\d+:\d+: /);
    expect(plan.stderr).toMatch(/connector-instances\/tickets\.yaml:\d+:\d+: .*MISSING_SECRET/);

    const before = await newestEvent(b.api);
    const apply = await cli(b.key, ['apply', bad], valuesEnv);
    expect(apply.code).toBe(3);
    expect(await newestEvent(b.api)).toBe(before);
    // The valid change in the same directory (alice's attributes back) was not made either.
    const users = await unwrap(b.api.GET('/external_users'));
    expect(users.data.find((u) => u.name === 'alice')?.attributes).toEqual({ team: 'sales' });
  }, 30_000);
});

/** Writes `files` (path → text) under a new directory of the test's scratch space. */
function directory(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** A YAML document whose aliases expand to 9^10 strings (a "billion laughs" bomb), under 100 alias nodes. */
function aliasBomb(): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 10; i++)
    lines.push(
      `a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(',')}]`,
    );
  return lines.join('\n') + '\n';
}

describe('workspace files: limits, what plan checks, prune', () => {
  it('a file past a limit is a 422 naming the file and the limit (alias bomb, keys per mapping, bytes, duplicate keys)', async () => {
    const wide = 'name: wide\n' + Array.from({ length: 10_001 }, (_, i) => `k${i}: 1\n`).join('');
    const files = [
      { path: 'mcp-servers/bomb.yaml', content: `name: bomb\n${aliasBomb()}` },
      { path: 'mcp-servers/wide.yaml', content: wide },
      { path: 'external-users/big.yaml', content: `name: big\nattributes:\n  a: "${'x'.repeat(1024 * 1024)}"\n` },
      { path: 'connectors/twice.yaml', content: 'openapi: 3.0.0\ninfo: { title: t, version: "1" }\ninfo: {}\n' },
    ];
    const { response, error } = await b.api.POST('/workspace_files/plan', { body: { files } });
    expect(response.status).toBe(422);
    expect(error?.errors).toEqual(
      expect.arrayContaining([
        { path: 'mcp-servers/bomb.yaml#', message: 'aliases expand to more than 100 nodes (the limit)' },
        {
          path: 'mcp-servers/wide.yaml#',
          message: 'line 1, column 1: more than 10000 entries in one mapping (the limit)',
        },
        {
          path: 'external-users/big.yaml#',
          message: expect.stringMatching(/^the file takes \d+ bytes: at most 1048576 \(the limit\)$/),
        },
        { path: 'connectors/twice.yaml#', message: 'line 3, column 1: Map keys must be unique' },
      ]),
    );
  }, 30_000);

  it('a big plan is parsed in a worker thread: /readyz and another workspace answer while it parses', async () => {
    const cp = stack.processes.find((p) => p.service === 'control-plane')!;
    const parsed = () => logLines(cp, 'workspace files parsed').length;
    const parsing = () => logLines(cp, 'workspace files parsing in a worker thread').length;
    const [before, started] = [parsed(), parsing()];
    // 3 files of about 0.9 MB, each within the limits (9,000 keys in a mapping): seconds of parsing in all.
    const config = Array.from({ length: 9000 }, (_, i) => `  key-${i}: [${'"a value", '.repeat(8)}"end"]\n`).join('');
    const files = Array.from({ length: 3 }, (_, i) => ({
      path: `mcp-servers/big-${i}.yaml`,
      content: `name: big-${i}\nmode: NORMAL\nconfig:\n${config}`,
    }));
    const plan = b.api.POST('/workspace_files/plan', { body: { files } });
    await waitFor('the plan parsing', () => parsing() > started);
    // Answered while the worker thread parses. Whether the parse is still running when they answer depends on the
    // machine's speed, so it is not asserted (no timing in tests): the parse's own thread is what the log lines show.
    expect((await fetch(`${stack.controlPlaneUrl}/readyz`)).status).toBe(200);
    expect((await a.api.GET('/mcp_manager')).response.status).toBe(200);
    const { response, data } = await plan;
    await waitFor('the parse’s end logged', () => parsed() > before);
    expect(response.status).toBe(200);
    expect(data?.summary.create).toBe(3);
  }, 60_000);

  it('plan refuses a key with a scope the applying key cannot grant, as apply would; the bootstrap key is not the workspace’s', async () => {
    const dir = directory('grants', {
      'mcp-servers/g-first.yaml': 'name: g-first\nmode: NORMAL\n',
      'api-keys/boss.yaml': 'name: boss\nscopes: [management, admin]\n',
    });
    const plan = await cli(b.key, ['plan', dir, '--json']);
    expect(plan.code).toBe(3);
    const errors = (JSON.parse(plan.stdout) as { error: { errors: { path: string; message: string }[] } }).error.errors;
    expect(errors).toEqual([
      expect.objectContaining({
        path: 'api-keys/boss.yaml#/scopes/1',
        message: 'the applying credential has no "admin" scope to grant',
      }),
    ]);
    // Nothing applied: not even the server before the key.
    expect((await cli(b.key, ['apply', dir])).code).toBe(3);
    const servers = await unwrap(b.api.GET('/mcp_manager'));
    expect(servers.data.map((s) => s.name)).not.toContain('g-first');

    // The platform's bootstrap key (the stack's admin key) is neither exported nor pruned from its workspace.
    const ops = await unwrap(admin.POST('/api_keys', { body: { name: 'ops', scopes: ['management'] } }));
    const exported = await cli(ops.key, ['export', join(work, 'default')]);
    expect(exported.code).toBe(0);
    expect(Object.keys(tree(join(work, 'default')))).not.toContain('api-keys/bootstrap.yaml');
    const pruned = await cli(ops.key, [
      'plan',
      directory('one-user', { 'external-users/someone.yaml': 'name: someone\n' }),
      '--prune',
      '--json',
    ]);
    expect(pruned.stderr).toBe('');
    const changes = (JSON.parse(pruned.stdout) as { changes: { kind: string; name: string; action: string }[] })
      .changes;
    expect(changes.filter((c) => c.kind === 'api_key')).toEqual([
      expect.objectContaining({ name: 'ops', action: 'unmanaged' }),
    ]);
  }, 30_000);

  it('plan refuses a tool to confirm that the server would not expose, as its step would; apply then changes nothing', async () => {
    const flows = readFileSync(join(work, 'a', 'mcp-servers/flows.yaml'), 'utf8');
    expect(flows).toContain('confirmTools: []');
    const good = {
      // SMART: every tool of the workspace's instances.
      'mcp-servers/c-smart.yaml': 'name: c-smart\nmode: SMART\nconfirmTools: [search_tickets, my_events]\n',
      // Its workflow deployment's tool, as deployed.
      'mcp-servers/flows.yaml': flows.replace('confirmTools: []', 'confirmTools: [probe]'),
    };
    const files = Object.entries({
      ...good,
      // Narrowed by `tools`: the connector's other tools are not the server's.
      'mcp-servers/c-narrowed.yaml':
        'name: c-narrowed\nmode: NORMAL\nconnectorInstance: tickets\ntools: [search_tickets]\n' +
        'confirmTools: [search_tickets, create_ticket]\n',
      // A registered external MCP server's tools (all of them: `tools: []`), listed through the worker.
      'mcp-servers/c-external.yaml':
        'name: c-external\nmode: NORMAL\nexternalMcpServers: [{ name: docs, tools: [] }]\nconfirmTools: [lookup, nope]\n',
      // A deployment of the same files is applied after its server: its tools are not there yet.
      'mcp-servers/c-flow.yaml': 'name: c-flow\nmode: NORMAL\nconfirmTools: [probe]\n',
      'deployments/c-flow.yaml': `server: c-flow\ndefinition: |\n${flower.replace(/^/gm, '  ')}`,
    }).map(([path, content]) => ({ path, content }));

    const plan = await b.api.POST('/workspace_files/plan', { body: { files } });
    expect(plan.response.status).toBe(422);
    const errors = [...(plan.error?.errors ?? [])].sort((x, y) => x.path.localeCompare(y.path));
    expect(errors).toEqual([
      { path: 'mcp-servers/c-external.yaml#/confirmTools/1', message: expect.stringContaining('no tool "nope"') },
      {
        path: 'mcp-servers/c-flow.yaml#/confirmTools/0',
        message: expect.stringMatching(/no tool "probe".*deployments\/c-flow\.yaml is applied after the server/),
      },
      {
        path: 'mcp-servers/c-narrowed.yaml#/confirmTools/1',
        message: expect.stringContaining('no tool "create_ticket"'),
      },
    ]);

    const before = await newestEvent(b.api);
    const refused = await b.api.POST('/workspace_files/apply', { body: { files } });
    expect(refused.response.status).toBe(422);
    expect(await newestEvent(b.api)).toBe(before);
    const servers = (await unwrap(b.api.GET('/mcp_manager'))).data.map((s) => s.name);
    for (const name of ['c-smart', 'c-narrowed', 'c-external', 'c-flow']) expect(servers).not.toContain(name);
    const current = await unwrap(b.api.GET('/mcp_manager/{id}', { params: { path: { id: 'flows' } } }));
    expect(current.confirmTools).toEqual([]);

    // What plan let through, apply does: its steps agree.
    const applied = await b.api.POST('/workspace_files/apply', {
      body: { files: Object.entries(good).map(([path, content]) => ({ path, content })) },
    });
    expect(applied.response.status).toBe(200);
    expect(applied.data?.outcome).toBe('applied');
    const after = await unwrap(b.api.GET('/mcp_manager/{id}', { params: { path: { id: 'flows' } } }));
    expect(after.confirmTools).toEqual(['probe']);
  }, 60_000);

  it('--prune deletes what no file names, dependants first, never the calling key; without it nothing is deleted', async () => {
    const c = (await unwrap(admin.POST('/workspaces', { body: { name: 'files-prune' } }))).apiKey.key;
    const cApi = createManagementClient(stack.controlPlaneUrl, c);
    const keep = { 'mcp-servers/p-keep.yaml': 'name: p-keep\nmode: NORMAL\n' };
    const full = directory('prune-full', {
      ...keep,
      'mcp-servers/p-gone.yaml': 'name: p-gone\nmode: NORMAL\n',
      'external-users/p-bob.yaml': 'name: p-bob\n',
      'api-keys/p-key.yaml': 'name: p-key\nscopes: [runtime]\nservers: [p-gone]\n',
      'access-policies/p-policy.yaml':
        'name: p-policy\nprincipals: [{ type: api_key, value: p-key }]\nservers: [p-gone]\ntools: ["*"]\n',
      'quotas/p-quota.yaml':
        'name: p-quota\nmatch: { servers: [p-gone], apiKeys: [p-key], people: [p-bob] }\ncounts: in_flight\nlimit: 2\n',
      'guardrails/p-guard.yaml': 'name: p-guard\nserver: p-gone\ndetectors: [{ kind: secrets }]\naction: flag\n',
      'role-mappings.yaml': 'assignments: [{ group: ops, roles: [operator] }]\n',
    });
    expect((await cli(c, ['apply', full])).code).toBe(0);
    await unwrap(cApi.POST('/external_users', { body: { name: 'p-hand' } })); // made through the API, not by files
    const kept = directory('prune-kept', keep);
    type Planned = { changes: { kind: string; name: string; action: string }[] };
    const byAction = (p: Planned, action: string) =>
      p.changes.filter((x) => x.action === action).map((x) => `${x.kind}/${x.name}`);

    const without = await cli(c, ['plan', kept, '--json']);
    expect(without.code).toBe(0);
    expect(byAction(JSON.parse(without.stdout) as Planned, 'delete')).toEqual([]);

    const plan = await cli(c, ['plan', kept, '--prune', '--json']);
    expect(plan.code).toBe(2);
    const planned = JSON.parse(plan.stdout) as Planned;
    const deleted = [
      'server/p-gone',
      'external_user/p-bob',
      'external_user/p-hand',
      'api_key/p-key',
      'access_policy/p-policy',
      'quota/p-quota',
      'guardrail/p-guard',
      'role_mapping/workspace',
      'session/workspace',
    ];
    expect(byAction(planned, 'delete')).toEqual(deleted);
    expect(byAction(planned, 'unmanaged')).toEqual(['api_key/initial']); // the calling key

    const applied = await cli(c, ['apply', kept, '--prune', '--json']);
    expect(applied.code).toBe(0);
    const result = JSON.parse(applied.stdout) as { applied: { kind: string; name: string; action: string }[] };
    // Deletions in the reverse of creation's order: what names a resource goes before it.
    expect(result.applied.map((x) => `${x.kind}/${x.name}`)).toEqual([
      'session/workspace',
      'role_mapping/workspace',
      'guardrail/p-guard',
      'quota/p-quota',
      'access_policy/p-policy',
      'api_key/p-key',
      'external_user/p-bob',
      'external_user/p-hand',
      'server/p-gone',
    ]);
    expect((await unwrap(cApi.GET('/mcp_manager'))).data.map((s) => s.name)).toEqual(['p-keep']);
    const keys = (await unwrap(cApi.GET('/api_keys'))).data;
    expect(keys.filter((k) => !k.revokedAt).map((k) => k.name)).toEqual(['initial']);
    expect((await unwrap(cApi.GET('/external_users'))).data).toEqual([]);
    expect((await unwrap(cApi.GET('/quotas'))).data).toEqual([]);
    expect((await unwrap(cApi.GET('/guardrails'))).data).toEqual([]);
    expect(await unwrap(cApi.GET('/role_mappings'))).toMatchObject({ configured: false, assignments: [] });
    expect(await unwrap(cApi.GET('/session_settings'))).toMatchObject({ configured: false, rules: [] });
    expect((await unwrap(cApi.GET('/workspace_files/managed'))).data.map((m) => `${m.kind}/${m.name}`)).toEqual([
      'server/p-keep',
    ]);
    // Pruned once, the same files with --prune change nothing.
    expect((await cli(c, ['plan', kept, '--prune'])).code).toBe(0);
  }, 60_000);
});
