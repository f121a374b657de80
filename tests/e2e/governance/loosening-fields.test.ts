import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import { SignJWT } from 'jose';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { rolesAllow, roleNames, type Role } from '../../../services/control-plane/src/http/roles.ts';
import type { FieldPower } from '../../../services/control-plane/src/resources/governing.ts';
import { instanceFields } from '../../../services/control-plane/src/resources/connector-instances/field-powers.ts';
import { connectorParts } from '../../../services/control-plane/src/resources/connectors/field-powers.ts';
import { externalServerFields } from '../../../services/control-plane/src/resources/external-mcp-servers/field-powers.ts';
import { serverFields } from '../../../services/control-plane/src/resources/servers/field-powers.ts';
import { sessionSettingsFields } from '../../../services/control-plane/src/resources/sessions/field-powers.ts';
import {
  CreateInstanceBody,
  UpdateInstanceBody,
} from '../../../services/control-plane/src/resources/connector-instances/schemas.ts';
import { CreateServerBody, UpdateServerBody } from '../../../services/control-plane/src/resources/servers/schemas.ts';
import { PutSessionSettingsBody } from '../../../services/control-plane/src/resources/sessions/schemas.ts';
import {
  CreateExternalServerBody,
  UpdateExternalServerBody,
} from '../../../services/control-plane/src/resources/external-mcp-servers/schemas.ts';

// A rule is only as strong as the right to change it (ADR 0073, docs/governance.md "Who may loosen a
// rule"): every field of a server, a connector instance and a connector's document is changed by every role and every
// kind of API key; a field that can loosen a rule (`governing`) changes only for a caller who may change access
// policies, one that moves where a credential goes (`origin`) only for a caller who may write secrets. The request
// schemas' fields are enumerated: a new field without an entry in the table (resources/governing.ts) fails here.

const audience = 'https://toolplane.test/api';
const allScopes = 'toolplane:management toolplane:audit toolplane:approve toolplane:admin';
const subjects: Record<Role, string> = {
  viewer: 'vera',
  operator: 'otto',
  admin: 'ada',
  auditor: 'aldo',
  approver: 'april',
};
type KeyKind = 'unrestricted' | 'limited' | 'limited_server_admin';
type Who = { role: Role } | { key: KeyKind };
const callers: Who[] = [
  ...roleNames.map((role) => ({ role })),
  ...(['unrestricted', 'limited', 'limited_server_admin'] as const).map((key) => ({ key })),
];
const nameOf = (w: Who) => ('role' in w ? w.role : `${w.key} key`);

let as: LocalAuthorizationServer;
let stack: Stack;
let api: ManagementClient;
let workspaceId: string;
let serverId: string;
let connectorId: string;
let instanceId: string;
let otherInstanceId: string;
let externalId: string;
const credentials = {} as Record<string, { header: string; value: string }>;

async function tokenFor(role: Role): Promise<string> {
  return new SignJWT({ scope: allScopes, toolplane_workspace: workspaceId })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(as.issuer)
    .setSubject(subjects[role])
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(as.signingKey);
}

const credentialOf = (w: Who) => credentials[nameOf(w)]!;

/** One request as `w` (through the contract proxy): its status. */
async function send(w: Who, method: string, path: string, body: unknown, yaml = false): Promise<number> {
  const { header, value } = credentialOf(w);
  const res = await fetch(`${stack.controlPlaneUrl}/api/v1${path}`, {
    method,
    headers: { [header]: value, 'content-type': yaml ? 'application/yaml' : 'application/json' },
    body: yaml ? (body as string) : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

/** What the bootstrap key reads at `path` (to see that a refused change changed nothing). */
async function read(path: string): Promise<unknown> {
  const res = await fetch(`${stack.controlPlaneUrl}/api/v1${path}`, { headers: { 'x-api-key': stack.bootstrapKey } });
  expect(res.status).toBe(200);
  // What an external server's background refresh may change meanwhile is left out.
  const {
    listedAt: _l,
    listError: _e,
    tools: _t,
    heldChanges: _h,
    updatedAt: _u,
    ...rest
  } = (await res.json()) as Record<string, unknown>;
  return rest;
}

/** Whether `w` reaches `method path` at all (its role's area, or its key's server restriction). */
function reaches(w: Who, method: string, path: string, limitedKeysMay: boolean): boolean {
  if ('role' in w) return rolesAllow([w.role], method, path);
  return w.key === 'unrestricted' || limitedKeysMay;
}

/** Who may change access policies / write secrets: the two rights of the table, by the role table and the key. */
const mayChangePolicies = (w: Who) =>
  'role' in w ? rolesAllow([w.role], 'POST', '/access_policies') : w.key === 'unrestricted';
const mayWriteSecrets = (w: Who) =>
  'role' in w ? rolesAllow([w.role], 'PUT', '/secrets/{name}') : w.key === 'unrestricted';

function allowedBy(w: Who, power: FieldPower): boolean {
  switch (power) {
    case 'free':
      return true;
    case 'exposure':
      return !('key' in w && w.key === 'limited');
    case 'governing':
      return mayChangePolicies(w);
    case 'origin':
      return mayWriteSecrets(w);
  }
}

interface Case {
  what: string;
  power: FieldPower;
  method: string;
  path: string;
  /** Documented path, for the role table. */
  route: string;
  limitedKeysMay: boolean;
  body: () => unknown;
  yaml?: boolean;
  read: string;
  restore: () => Promise<unknown>;
}

/** Sends each case as each caller; answers the cases whose status was not the table's (or that changed on a 403). */
async function sweep(cases: Case[]): Promise<string[]> {
  const wrong: string[] = [];
  for (const c of cases)
    for (const w of callers) {
      const expected = reaches(w, c.method, c.route, c.limitedKeysMay) && allowedBy(w, c.power) ? 'changed' : 'refused';
      const before = await read(c.read);
      const status = await send(w, c.method, c.path, c.body(), c.yaml);
      const got = status === 200 || status === 201 ? 'changed' : status === 403 ? 'refused' : `answered ${status}`;
      if (got !== expected) wrong.push(`${nameOf(w)}: ${c.what} (${c.power}): ${got}, expected ${expected}`);
      if (got === 'refused' && JSON.stringify(await read(c.read)) !== JSON.stringify(before))
        wrong.push(`${nameOf(w)}: ${c.what}: refused, but changed`);
      if (got === 'changed') await c.restore();
    }
  return wrong;
}

const fieldsOf = (schema: { shape: object }) => Object.keys(schema.shape).sort();

beforeAll(async () => {
  as = await startAuthorizationServer();
  ({ stack, api } = await startTestStack('loosening', {
    serviceEnv: {
      'control-plane': { OAUTH_ISSUER: as.issuer, OAUTH_JWKS_URL: `${as.issuer}/jwks`, OAUTH_AUDIENCE: audience },
    },
  }));
  workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
  await unwrap(
    api.PUT('/role_mappings', {
      body: { assignments: roleNames.map((role) => ({ subject: subjects[role], roles: [role] })) },
    }),
  );
  const example = await registerTicketExample(api, 'http://127.0.0.1:9', 'ticket-key', 'loose');
  ({ serverId, connectorId, instanceId } = example);
  otherInstanceId = (
    await unwrap(
      api.POST('/connector_instances', {
        body: { connector_id: connectorId, name: 'second', credentials: { api_key: 'k2' }, createServer: false },
      }),
    )
  ).id;
  await unwrap(api.PATCH('/mcp_manager/{id}', { params: { path: { id: serverId } }, body: serverBaseline() }));
  // A registered external MCP server whose sealed header is an admin's credential (nothing listens there).
  externalId = (
    await unwrap(
      api.POST('/external_mcp_servers', {
        body: { name: 'docs', url: externalBaseline.url, headers: { authorization: 'Bearer admins-token' } },
      }),
    )
  ).id;
  const key = async (name: string, scopes: ('management' | 'server_admin')[], serverIds?: string[]) =>
    (await unwrap(api.POST('/api_keys', { body: { name, scopes, ...(serverIds ? { serverIds } : {}) } }))).key;
  for (const role of roleNames)
    credentials[role] = { header: 'authorization', value: `Bearer ${await tokenFor(role)}` };
  credentials['unrestricted key'] = { header: 'x-api-key', value: await key('unrestricted', ['management']) };
  credentials['limited key'] = { header: 'x-api-key', value: await key('limited', ['management'], [serverId]) };
  credentials['limited_server_admin key'] = {
    header: 'x-api-key',
    value: await key('limited admin', ['management', 'server_admin'], [serverId]),
  };
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await as?.close();
});

const externalBaseline = { url: 'http://127.0.0.1:9/mcp', name: 'docs', autoAccept: false, onChange: 'keep_pinned' };

/** The server every case starts from: every rule set (a confirmation, an approval by ada, private, no code mode). */
function serverBaseline() {
  return {
    name: 'loose',
    description: 'the baseline',
    mode: 'NORMAL' as const,
    connectorInstanceId: instanceId,
    selectedTools: ['search_tickets', 'get_ticket', 'create_ticket'],
    isPublic: false,
    perRequestAuth: false,
    codeMode: false,
    confirmTools: ['create_ticket'],
    approvalTools: ['create_ticket'],
    approvalRule: { approvers: { subjects: ['ada'] }, approvals: 1, expiresInSeconds: 3600 },
    config: {},
    ruleSettings: { 'spending-limit': { argument: 'limit', limit: 50 } },
    externalMcpConfigs: [],
    externalMcpServers: [],
  };
}

/** For each field of the server: a change away from the baseline (what loosens, for a governing one). */
const serverChanges: Record<keyof typeof serverFields, () => unknown> = {
  name: () => 'loose-renamed',
  description: () => 'changed',
  mode: () => 'SMART',
  connectorInstanceId: () => otherInstanceId,
  selectedTools: () => ['search_tickets'],
  externalMcpConfigs: () => [],
  externalMcpServers: () => [],
  perRequestAuth: () => true,
  // The staging twin (ADR 0112).
  twin: () => 'on',
  isPublic: () => true,
  codeMode: () => true,
  confirmTools: () => [],
  approvalTools: () => [],
  // The operator names themselves the approver of the calls they would then approve.
  approvalRule: () => ({ approvers: { subjects: ['otto'] } }),
  config: () => ({ exposeCallerToken: true }),
  // A raised spending limit (ADR 0101).
  ruleSettings: () => ({ 'spending-limit': { argument: 'limit', limit: 5000 } }),
};

describe('who may change what a rule rests on', () => {
  it('has a table entry for every field of the request schemas, and the issue’s fields are governing', () => {
    expect(Object.keys(serverFields).sort()).toEqual(
      [...new Set([...fieldsOf(CreateServerBody), ...fieldsOf(UpdateServerBody)])].sort(),
    );
    expect(Object.keys(serverChanges).sort()).toEqual(Object.keys(serverFields).sort());
    expect(Object.keys(instanceFields).sort()).toEqual(
      [...new Set([...fieldsOf(CreateInstanceBody), ...fieldsOf(UpdateInstanceBody)])].sort(),
    );
    // Exposure, confirmation, approvals, result shapes and cache settings (config), code mode: they can loosen a rule.
    for (const f of ['isPublic', 'confirmTools', 'approvalTools', 'approvalRule', 'config', 'codeMode'] as const)
      expect(serverFields[f]).toBe('governing');
    expect(instanceFields.base_url).toBe('origin');
    expect(instanceFields.oauth_urls).toBe('origin');
    expect(connectorParts.origins).toBe('origin');
    expect(Object.keys(externalServerFields).sort()).toEqual(
      [...new Set([...fieldsOf(CreateExternalServerBody), ...fieldsOf(UpdateExternalServerBody)])].sort(),
    );
    expect(externalServerFields.url).toBe('origin');
    // The session settings (ADR 0078): a rule removed or made log only, labels forgotten sooner.
    expect(Object.keys(sessionSettingsFields).sort()).toEqual(fieldsOf(PutSessionSettingsBody));
    for (const power of Object.values(sessionSettingsFields)) expect(power).toBe('governing');
  });

  it('says why, as problem+json: the right the change needs and who the caller is', async () => {
    const refusal = async (w: Who, method: string, path: string, body: unknown) => {
      const { header, value } = credentialOf(w);
      const res = await fetch(`${stack.controlPlaneUrl}/api/v1${path}`, {
        method,
        headers: { [header]: value, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      return ((await res.json()) as { detail: string }).detail;
    };
    // Item 1: a key limited to the server names itself the approver, or drops the approvals.
    expect(
      await refusal({ key: 'limited_server_admin' }, 'PATCH', `/mcp_manager/${serverId}`, { approvalTools: [] }),
    ).toBe(
      'changing approvalTools of server loose can loosen a rule of the workspace: it needs a caller who may change ' +
        'access policies (the admin role, or an API key with the "management" scope and no server restriction), not ' +
        'an API key limited to servers',
    );
    // Item 2: an operator makes the server public.
    expect(await refusal({ role: 'operator' }, 'PATCH', `/mcp_manager/${serverId}`, { isPublic: true })).toContain(
      'not a person with the roles operator',
    );
    // Item 3: an operator points the instance's stored credential at their own host.
    expect(
      await refusal({ role: 'operator' }, 'PATCH', `/connector_instances/${otherInstanceId}`, {
        base_url: 'http://collector.example:8080',
      }),
    ).toBe(
      'changing base_url of connector instance second changes where its stored credentials are sent: it needs a ' +
        'caller who may write the workspace\'s secrets (the admin role, or an API key with the "management" scope ' +
        'and no server restriction), not a person with the roles operator',
    );
  });

  it('changes each field of a server only for the callers the table names (PATCH)', async () => {
    const cases = (Object.keys(serverFields) as (keyof typeof serverFields)[]).map((field): Case => ({
      what: `PATCH server ${field}`,
      power: serverFields[field],
      method: 'PATCH',
      path: `/mcp_manager/${serverId}`,
      route: '/mcp_manager/{id}',
      limitedKeysMay: true,
      body: () => ({ [field]: serverChanges[field]() }),
      read: `/mcp_manager/${serverId}`,
      restore: () =>
        unwrap(api.PATCH('/mcp_manager/{id}', { params: { path: { id: serverId } }, body: serverBaseline() })),
    }));
    expect(await sweep(cases)).toEqual([]);
  }, 300_000);

  it('creates a server with a governing field set only for those who may change policies (POST)', async () => {
    let n = 0;
    const created: Record<string, unknown> = {
      isPublic: true,
      codeMode: true,
      confirmTools: ['create_ticket'],
      approvalTools: ['create_ticket'],
      approvalRule: { approvers: { subjects: ['otto'] } },
      config: { exposeCallerToken: true },
      ruleSettings: { 'spending-limit': { argument: 'limit', limit: 50 } },
    };
    expect(Object.keys(created).sort()).toEqual(
      Object.entries(serverFields)
        .flatMap(([f, p]) => (p === 'governing' ? [f] : []))
        .sort(),
    );
    const cases = Object.entries(created).map(([field, value]): Case => ({
      what: `POST server with ${field}`,
      power: 'governing',
      method: 'POST',
      path: '/mcp_manager',
      route: '/mcp_manager',
      limitedKeysMay: false,
      body: () => ({
        name: `new-${++n}`,
        mode: 'NORMAL',
        connectorInstanceId: instanceId,
        // Tools to approve need a rule saying who approves (422 without one).
        ...(field === 'approvalTools' ? { approvalRule: created.approvalRule } : {}),
        [field]: value,
      }),
      read: '/mcp_manager?limit=100',
      restore: async () => undefined,
    }));
    expect(await sweep(cases)).toEqual([]);
  }, 300_000);

  it('changes where an instance sends its credentials only for those who may write secrets (PATCH)', async () => {
    // The documented body refuses `oauth_urls: null` (docs/openapi.json); the baseline names a token URL instead.
    const baselineOAuth = { token_url: 'https://tickets.internal.com/oauth/token' };
    await unwrap(
      api.PATCH('/connector_instances/{id}', {
        params: { path: { id: otherInstanceId } },
        body: { oauth_urls: baselineOAuth as never },
      }),
    );
    const original = await unwrap(api.GET('/connector_instances/{id}', { params: { path: { id: otherInstanceId } } }));
    const changes: Record<keyof UpdateInstanceBody, unknown> = {
      name: 'renamed',
      // The operator's own host: the admin's credential would go there on the next call.
      base_url: 'http://collector.example:8080',
      oauth_urls: { token_url: 'https://collector.example/token' },
      credentials: { api_key: 'typed-in-by-the-caller' },
      webhook_secret: 'typed-in-by-the-caller',
    };
    expect(Object.keys(changes).sort()).toEqual(fieldsOf(UpdateInstanceBody));
    const cases = (Object.keys(changes) as (keyof UpdateInstanceBody)[]).map((field): Case => ({
      what: `PATCH instance ${field}`,
      power: instanceFields[field],
      method: 'PATCH',
      path: `/connector_instances/${otherInstanceId}`,
      route: '/connector_instances/{id}',
      limitedKeysMay: false,
      body: () => ({ [field]: changes[field] }),
      read: `/connector_instances/${otherInstanceId}`,
      restore: () =>
        unwrap(
          api.PATCH('/connector_instances/{id}', {
            params: { path: { id: otherInstanceId } },
            body: {
              name: original.name,
              base_url: null,
              oauth_urls: baselineOAuth as never,
              credentials: { api_key: 'k2' },
            },
          }),
        ),
    }));
    expect(await sweep(cases)).toEqual([]);
  }, 300_000);

  it('replaces a connector’s origins, costs, result shapes and labels only for those with the right (PUT)', async () => {
    const yaml = ticketSystemDescriptorYaml;
    const documents: Record<keyof typeof connectorParts, string> = {
      origins: yaml.replaceAll('https://tickets.internal.com', 'https://collector.example'),
      cost: yaml.replace(/(\n\s*endpoint: "https:\/\/tickets\.internal\.com\/api\/v1\/tickets"\n)/, '$1    cost: 0\n'),
      result_shape: yaml.replace(
        /(mcp_tool_name: search_tickets\n(\s*)mcp_tool_description: [^\n]*\n)/,
        '$1$2result_shape:\n$2  max_items: 1\n',
      ),
      labels: yaml.replace(
        /(mcp_tool_name: search_tickets\n(\s*)mcp_tool_description: [^\n]*\n)/,
        '$1$2labels: [private]\n',
      ),
      other: yaml.replace(/server_description: "[^"]*"/, 'server_description: "Other words"'),
    };
    for (const text of Object.values(documents)) expect(text).not.toBe(yaml);
    const cases = (Object.keys(documents) as (keyof typeof connectorParts)[]).map((part): Case => ({
      what: `PUT connector ${part}`,
      power: connectorParts[part],
      method: 'PUT',
      path: `/connectors/${connectorId}`,
      route: '/connectors/{id}',
      limitedKeysMay: false,
      body: () => documents[part],
      yaml: true,
      read: `/connectors/${connectorId}`,
      restore: () =>
        unwrap(
          api.PUT('/connectors/{id}', {
            params: { path: { id: connectorId } },
            body: yaml as never,
            bodySerializer: (b) => b as unknown as string,
            headers: { 'content-type': 'application/yaml' },
          }),
        ),
    }));
    expect(await sweep(cases)).toEqual([]);
  }, 300_000);
  it('changes the session settings only for those who may change policies (PUT)', async () => {
    const baseline = {
      ttlSeconds: 86_400,
      rules: [
        {
          id: 'no-send',
          after: ['private' as const],
          toolLabels: ['external_write' as const],
          action: 'refuse' as const,
          enforce: true,
        },
      ],
    };
    const restore = () => unwrap(api.PUT('/session_settings', { body: baseline }));
    await restore();
    const changes: Record<keyof typeof sessionSettingsFields, unknown> = {
      // Labels forgotten after a minute: the next send is judged by an empty session.
      ttlSeconds: 60,
      // The rule made log only (removing it is the same right).
      rules: [{ ...baseline.rules[0], enforce: false }],
    };
    const cases = (Object.keys(changes) as (keyof typeof sessionSettingsFields)[]).map((field): Case => ({
      what: `PUT session settings ${field}`,
      power: sessionSettingsFields[field],
      method: 'PUT',
      path: '/session_settings',
      route: '/session_settings',
      limitedKeysMay: false,
      body: () => ({ ...baseline, [field]: changes[field] }),
      read: '/session_settings',
      restore,
    }));
    expect(await sweep(cases)).toEqual([]);
  }, 300_000);

  it('points a registered external server’s stored headers elsewhere only for those who may write secrets (PATCH)', async () => {
    const changes: Record<keyof UpdateExternalServerBody, unknown> = {
      name: 'docs-renamed',
      url: 'http://127.0.0.1:9/collector',
      headers: { 'x-extra': 'typed-in-by-the-caller' },
      autoAccept: true,
      onChange: 'withhold',
      notifyWebhookUrl: 'https://hooks.example.com/held',
    };
    expect(Object.keys(changes).sort()).toEqual(fieldsOf(UpdateExternalServerBody));
    const cases = (Object.keys(changes) as (keyof UpdateExternalServerBody)[]).map((field): Case => ({
      what: `PATCH external server ${field}`,
      power: externalServerFields[field],
      method: 'PATCH',
      path: `/external_mcp_servers/${externalId}`,
      route: '/external_mcp_servers/{id}',
      limitedKeysMay: false,
      body: () => ({ [field]: changes[field] }),
      read: `/external_mcp_servers/${externalId}`,
      restore: () =>
        unwrap(
          api.PATCH('/external_mcp_servers/{id}', {
            params: { path: { id: externalId } },
            body: { ...externalBaseline, headers: { 'x-extra': null }, notifyWebhookUrl: null } as never,
          }),
        ),
    }));
    expect(await sweep(cases)).toEqual([]);
  }, 300_000);
});
