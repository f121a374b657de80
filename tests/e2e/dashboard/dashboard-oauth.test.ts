// Signing in with the deployment's OAuth issuer (ADR 0020), against the real stack and a local authorization server
// (tests/helpers/authorization-server.ts: metadata, the authorization code flow with PKCE, JWKS): the management API
// with access tokens (what a token may do, in which workspace, what is refused), then the dashboard in Debian's
// Chromium (the whole sign-in, a deep link kept, refusals and forged callbacks shown, expiry). A missing Chromium fails
// the file.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { SignJWT } from 'jose';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import {
  audit,
  buildDashboard,
  dashboardEnv,
  launchChromium,
  newDashboardPage,
  openFromNav,
} from '../../helpers/browser.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';
import { waitFor } from '../../helpers/wait.ts';
import { rolesAllow, type Role } from '../../../services/control-plane/src/http/roles.ts';

const audience = 'https://toolplane.test/api';
const clientId = 'toolplane-dashboard';

let as: LocalAuthorizationServer;
let stack: Stack;
/** The control plane without the contract proxy: requests sent with their path exactly as written. */
let direct: URL;
let upstream: TicketSystem;
let example: RegisteredExample;
/** The bootstrap key's workspace (A), and a second one (B) with a key of its own. */
let workspaceA: string;
let workspaceB: { id: string; keyId: string };
let browser: Browser;
let page: Page;
let pageProblems: string[];
/** Every access token handed out in this file: none may appear in any service's output. */
const issued: string[] = [];

async function accessToken(claims: Record<string, unknown>, o: { aud?: string; sub?: string } = {}): Promise<string> {
  const token = await new SignJWT({ scope: 'openid toolplane:management toolplane:runtime', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(as.issuer)
    .setSubject(o.sub ?? 'alice')
    .setAudience(o.aud ?? audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(as.signingKey);
  issued.push(token);
  return token;
}

function asUser(token: string): ManagementClient {
  return createManagementClient(stack.controlPlaneUrl, { accessToken: token });
}

/** The dashboard build this file's control plane serves. */
let build: string;

beforeAll(async () => {
  build = buildDashboard();
  browser = await launchChromium();
  as = await startAuthorizationServer();
  upstream = await startTicketSystem({ apiKey: 'ticket-key' });
  let api: ManagementClient;
  let directUrl: string;
  ({
    stack,
    api,
    directControlPlaneUrl: directUrl,
  } = await startTestStack('dashboardoauth', {
    logLevel: 'info',
    serviceEnv: {
      'control-plane': {
        OAUTH_ISSUER: as.issuer,
        OAUTH_JWKS_URL: `${as.issuer}/jwks`,
        OAUTH_AUDIENCE: audience,
        OAUTH_CLIENT_ID: clientId,
        ...dashboardEnv(build)['control-plane'],
      },
    },
  }));
  direct = new URL(directUrl);
  // The dashboard's redirect URI: where the browser reaches the control plane (the contract proxy).
  as.clients.push({ clientId, redirectUri: `${stack.controlPlaneUrl}/oauth/callback` });
  const admin = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  workspaceA = (await admin.GET('/workspaces/current')).data!.id;
  const created = (await admin.POST('/workspaces', { body: { name: 'team-b' } })).data!;
  workspaceB = { id: created.id, keyId: created.apiKey.id };
  example = await registerTicketExample(api, upstream.url, 'ticket-key', 'support');
  as.user = { sub: 'alice', claims: { toolplane_workspace: workspaceA } };
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
}, 180_000);

afterAll(async () => {
  await orders?.client.close().catch(() => undefined);
  await new Promise((r) => orders?.upstream.close(r));
  await browser?.close();
  await stack?.stop();
  await upstream?.close();
  await as?.close();
});

describe('the management API with OAuth access tokens', () => {
  it('acts in the workspace the token names, and only there', async () => {
    const alice = asUser(await accessToken({ toolplane_workspace: workspaceA }));
    expect((await alice.GET('/workspaces/current')).data?.id).toBe(workspaceA);
    const servers = (await alice.GET('/mcp_manager')).data!.data.map((s) => s.id);
    expect(servers).toContain(example.serverId);
    const keysA = (await alice.GET('/api_keys')).data!.data.map((k) => k.id);
    expect(keysA).not.toContain(workspaceB.keyId);
    // The same user with a token for workspace B sees B's key, and not A's server.
    const inB = asUser(await accessToken({ toolplane_workspace: workspaceB.id }));
    expect((await inB.GET('/api_keys')).data!.data.map((k) => k.id)).toEqual([workspaceB.keyId]);
    const other = await inB.GET('/mcp_manager/{id}', { params: { path: { id: example.serverId } } });
    expect(other.response.status).toBe(404);
  });

  it('grants only the scopes the token has: a runtime key yes, an admin key or a workspace no', async () => {
    const alice = asUser(await accessToken({ toolplane_workspace: workspaceA }));
    const runtime = await alice.POST('/api_keys', { body: { name: 'agent', scopes: ['runtime'] } });
    expect(runtime.response.status).toBe(201);
    expect(runtime.data?.scopes).toEqual(['runtime']);
    const admin = await alice.POST('/api_keys', { body: { name: 'escalate', scopes: ['runtime', 'admin'] } });
    expect(admin.response.status).toBe(422);
    expect(admin.error).toMatchObject({
      code: 'request.invalid',
      errors: [{ path: '/scopes/1', message: 'this access token has no "admin" scope to grant' }],
    });
    const workspace = await alice.POST('/workspaces', { body: { name: 'alice-made' } });
    expect(workspace.response.status).toBe(403);
    expect(workspace.error).toMatchObject({ code: 'auth.forbidden', detail: 'this access token has no "admin" scope' });
    // With the admin scope it may.
    const adminToken = await accessToken({
      toolplane_workspace: workspaceA,
      scope: 'toolplane:management toolplane:admin',
    });
    expect((await asUser(adminToken).POST('/workspaces', { body: { name: 'alice-made' } })).response.status).toBe(201);
  });

  it('refuses tokens not meant for it (401 with a Bearer challenge), without powers (403), and lets an API key win', async () => {
    const get = (headers: Record<string, string>) =>
      fetch(`${stack.controlPlaneUrl}/api/v1/workspaces/current`, { headers });
    // A token for the MCP server (the edge's resource), not for the management API.
    const forEdge = await accessToken({ toolplane_workspace: workspaceA }, { aud: example.mcpUrl });
    const refused = await get({ authorization: `Bearer ${forEdge}` });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="toolplane", error="invalid_token"');
    expect(await refused.json()).toMatchObject({
      code: 'auth.invalid_token',
      detail: 'the access token\'s "aud" claim is not accepted here',
    });
    const noScope = await get({
      authorization: `Bearer ${await accessToken({ toolplane_workspace: workspaceA, scope: 'toolplane:runtime' })}`,
    });
    expect(noScope.status).toBe(403);
    const nowhere = await get({ authorization: `Bearer ${await accessToken({ toolplane_workspace: randomUUID() })}` });
    expect(nowhere.status).toBe(403);
    const missing = await get({});
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="toolplane"');
    expect(await missing.json()).toMatchObject({
      code: 'auth.missing_key',
      detail: 'the x-api-key header or an OAuth access token (Authorization: Bearer) is required',
    });
    const both = await get({ 'x-api-key': stack.bootstrapKey, authorization: 'Bearer not-a-token' });
    expect(both.status).toBe(200);
  });

  it('records which user opened a debug session', async () => {
    const bob = asUser(await accessToken({ toolplane_workspace: workspaceA }, { sub: 'bob@example.com' }));
    const opened = await bob.POST('/mcp_manager/{id}/debug_sessions', {
      params: { path: { id: example.serverId } },
      body: { duration_minutes: 5 },
    });
    expect(opened.response.status).toBe(201);
    const db = new pg.Client({ connectionString: stack.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query(
        'SELECT opened_by_key_id AS "keyId", opened_by_subject AS "subject" FROM debug_sessions WHERE id = $1',
        [opened.data!.id],
      );
      expect(rows).toEqual([{ keyId: null, subject: 'bob@example.com' }]);
    } finally {
      await db.end();
    }
    await bob.DELETE('/mcp_manager/{id}/debug_sessions/{sessionId}', {
      params: { path: { id: example.serverId, sessionId: opened.data!.id } },
    });
  });
});

// People's roles (docs/governance.md "People and roles"): a workspace of its own maps subjects and groups (of its own
// groups claim) to roles; every documented operation is sent with each role's token and must be refused (403) exactly
// where the role table (services/control-plane/src/http/roles.ts) says, then the dashboard hides what a role cannot do.
const allScopes = 'toolplane:management toolplane:audit toolplane:approve toolplane:admin';
const document = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { requestBody?: unknown; security?: [] }>>;
};
const documented = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([, op]) => op.security?.length !== 0)
    .map(([method, op]) => ({ method: method.toUpperCase(), path, body: op.requestBody !== undefined })),
);
/** Who holds each role in the roles workspace: a subject, or a value of its groups claim `teams`. */
const holders: Record<Role, { sub: string; teams?: string[] }> = {
  viewer: { sub: 'vera' },
  auditor: { sub: 'aldo' },
  operator: { sub: 'otto', teams: ['ops'] },
  approver: { sub: 'april', teams: ['approvers'] },
  admin: { sub: 'ada', teams: ['ops', 'admins'] },
};
const roleMapping = {
  groupsClaim: 'teams',
  assignments: [
    { subject: 'vera', roles: ['viewer' as const] },
    { subject: 'aldo', roles: ['auditor' as const] },
    { group: 'ops', roles: ['operator' as const] },
    { group: 'approvers', roles: ['approver' as const] },
    { group: 'admins', roles: ['admin' as const] },
  ],
};

/** One request straight to the control plane: its status. */
function sendAs(token: string, op: { method: string; path: string; body: boolean }): Promise<number> {
  const path = `/api/v1${op.path.replace(/\{(name|secret|external)\}/g, 'nobody').replace(/\{[^}]+\}/g, () => randomUUID())}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: direct.hostname,
        port: direct.port,
        method: op.method,
        path,
        headers: { authorization: `Bearer ${token}`, ...(op.body ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(op.body ? '{}' : undefined);
  });
}

describe('people’s roles', () => {
  let rolesWorkspace: { id: string; key: ManagementClient; serverId: string; connectorId: string };
  const tokenFor = (role: Role) =>
    accessToken(
      { toolplane_workspace: rolesWorkspace.id, scope: allScopes, teams: holders[role].teams ?? [] },
      {
        sub: holders[role].sub,
      },
    );

  beforeAll(async () => {
    const admin = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
    const created = await unwrap(admin.POST('/workspaces', { body: { name: 'roles' } }));
    const key = createManagementClient(stack.controlPlaneUrl, created.apiKey.key);
    const server = await unwrap(key.POST('/mcp_manager', { body: { name: 'roles-probe' } }));
    await unwrap(key.PUT('/role_mappings', { body: roleMapping }));
    const connector = await seedReadOnlyRows(key);
    rolesWorkspace = { id: created.id, key, serverId: server.id, connectorId: connector };
  });

  it('refuses each role every operation the role table keeps from it (403), and no other', async () => {
    const wrong: string[] = [];
    const reached: Record<Role, string[]> = { viewer: [], operator: [], auditor: [], approver: [], admin: [] };
    // The admin last: its sweep deletes the mapping (DELETE /role_mappings), put back after.
    for (const role of ['viewer', 'operator', 'auditor', 'approver', 'admin'] as const) {
      const token = await tokenFor(role);
      for (const op of documented) {
        const status = await sendAs(token, op);
        const allowed = rolesAllow([role], op.method, op.path);
        if (allowed ? status === 401 || status === 403 : status !== 403)
          wrong.push(`${role}: ${op.method} ${op.path}: ${status}`);
        if (allowed) reached[role].push(`${op.method} ${op.path}`);
      }
    }
    await unwrap(rolesWorkspace.key.PUT('/role_mappings', { body: roleMapping }));
    expect(wrong).toEqual([]);
    // The table itself, as the issue words each role.
    expect(reached.auditor.sort()).toEqual([
      'GET /audit_events',
      'GET /audit_exporters',
      'GET /audit_exporters/{id}',
      'GET /audit_exporters/{id}/status',
      // Least privilege proposed from use (docs/governance.md): who called what, read as the trail is.
      'GET /least_privilege',
      'GET /least_privilege/proposal',
      'GET /quotas/{id}/usage',
      // One session's labels and their origins (ADR 0078), read as the trail is.
      'GET /sessions/{scope}',
      'GET /stats',
      'GET /usage',
      'GET /workspaces/current',
      'POST /sign_ins',
    ]);
    expect(reached.approver.sort()).toEqual([
      'GET /approvals',
      'GET /approvals/{id}',
      // A loosening change waiting for a second person (ADR 0079) is decided where calls are.
      'GET /change_requests',
      'GET /change_requests/{id}',
      // What a task may do is a person's approval too (ADR 0108).
      'GET /task_grants',
      'GET /task_grants/{id}',
      'GET /workspaces/current',
      'POST /approvals/{id}/approve',
      'POST /approvals/{id}/deny',
      'POST /approvals/{id}/links',
      'POST /change_requests/{id}/approve',
      'POST /change_requests/{id}/deny',
      'POST /change_requests/{id}/links',
      'POST /sign_ins',
      'POST /task_grants',
      'POST /task_grants/{id}/revoke',
    ]);
    expect(reached.viewer.filter((o) => !o.startsWith('GET '))).toEqual(['POST /sign_ins']);
    expect(reached.viewer.filter((o) => /secrets|audit_events|workspace_files/.test(o))).toEqual([]);
    expect(reached.viewer).toEqual(expect.arrayContaining(['GET /mcp_manager', 'GET /api_keys', 'GET /role_mappings']));
    expect(reached.operator).toEqual(
      expect.arrayContaining(['POST /mcp_servers/{id}/deploy', 'PUT /connectors/{id}', 'GET /secrets']),
    );
    expect(reached.operator).not.toEqual(expect.arrayContaining(['POST /api_keys']));
    expect(
      reached.operator.filter((o) => /api_keys|access_policies|role_mappings|secrets/.test(o) && !o.startsWith('GET')),
    ).toEqual([]);
    expect(reached.admin).toHaveLength(documented.length);
  }, 300_000);

  it('tells a person their roles and what they reach; a person with no role reaches nothing but the refusal', async () => {
    const viewer = asUser(await tokenFor('viewer'));
    const { you } = await unwrap(viewer.GET('/workspaces/current'));
    expect(you).toMatchObject({ kind: 'person', subject: 'vera', roles: ['viewer'] });
    expect(you.access).toMatchObject({ servers: 'read', secrets: 'none', trail: 'none', session: 'write' });
    const nobody = asUser(
      await accessToken({ toolplane_workspace: rolesWorkspace.id, scope: allScopes }, { sub: 'nobody' }),
    );
    const refused = await nobody.GET('/workspaces/current');
    expect(refused.response.status).toBe(403);
    expect(refused.error).toMatchObject({ code: 'auth.forbidden', detail: expect.stringContaining('no role') });
    // API keys have no roles: their scopes decide, as before.
    expect((await unwrap(rolesWorkspace.key.GET('/workspaces/current'))).you).toMatchObject({
      kind: 'api_key',
      roles: null,
    });
  });

  it('gives a person the roles of the SCIM groups the identity provider put them in, until it deactivates them', async () => {
    const { token } = await unwrap(rolesWorkspace.key.POST('/scim_token'));
    const scim = async (method: string, path: string, body: unknown) => {
      const res = await fetch(`${direct.origin}/scim/v2${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBeLessThan(300);
      return (await res.json()) as { id: string };
    };
    const user = 'urn:ietf:params:scim:schemas:core:2.0:User';
    const gina = await scim('POST', '/Users', {
      schemas: [user],
      userName: 'gina@example.com',
      externalId: 'gina-oid',
    });
    const group = 'urn:ietf:params:scim:schemas:core:2.0:Group';
    await scim('POST', '/Groups', { schemas: [group], displayName: 'ops', members: [{ value: gina.id }] });
    const roles = async (claims: Record<string, unknown>, sub: string) =>
      (
        await asUser(
          await accessToken({ toolplane_workspace: rolesWorkspace.id, scope: allScopes, ...claims }, { sub }),
        ).GET('/workspaces/current')
      ).data?.you.roles;
    // The group `ops` maps to operator (roleMapping); neither token names a group in its `teams` claim.
    expect(await roles({}, 'gina-oid')).toEqual(['operator']);
    expect(await roles({ preferred_username: 'Gina@example.com' }, 'pairwise-7')).toEqual(['operator']);
    expect(await roles({}, 'someone-else')).toBeUndefined();
    const patch = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
    await scim('PATCH', `/Users/${gina.id}`, {
      schemas: [patch],
      Operations: [{ op: 'replace', value: { active: false } }],
    });
    expect(await roles({}, 'gina-oid')).toBeUndefined();
  });

  it('records every change of the mapping in the audit trail, before and after', async () => {
    const ada = asUser(await tokenFor('admin'));
    const changed = {
      ...roleMapping,
      assignments: [...roleMapping.assignments, { subject: 'zed', roles: ['viewer' as const] }],
    };
    await unwrap(ada.PUT('/role_mappings', { body: changed }));
    const refused = await asUser(await tokenFor('operator')).PUT('/role_mappings', { body: roleMapping });
    expect(refused.response.status).toBe(403);
    await unwrap(rolesWorkspace.key.PUT('/role_mappings', { body: roleMapping }));
    expect(await unwrap(ada.GET('/role_mappings'))).toMatchObject({
      configured: true,
      groupsClaim: 'teams',
      effectiveGroupsClaim: 'teams',
      assignments: roleMapping.assignments,
    });
    const events = await unwrap(
      rolesWorkspace.key.GET('/audit_events', { params: { query: { action: 'role_mapping.*', order: 'asc' } } }),
    );
    const byAda = events.data.filter((e) => e.actor.id === 'ada');
    expect(byAda.map((e) => [e.action, e.outcome])).toEqual([
      ['role_mapping.delete', 'success'],
      ['role_mapping.update', 'success'],
    ]);
    const update = byAda[1]!;
    expect((update.changes as { assignments: { after: unknown[] } }).assignments.after).toContainEqual({
      subject: 'zed',
      roles: ['viewer'],
    });
    expect(events.data.map((e) => [e.actor.id, e.action, e.outcome])).toContainEqual([
      'otto',
      'role_mapping.update',
      'refused',
    ]);
  });

  it('shows a viewer what they may read and no way to change it; a forced change is refused', async () => {
    as.user = { sub: 'vera', claims: { toolplane_workspace: rolesWorkspace.id } };
    await page.goto(`/servers/${rolesWorkspace.serverId}`);
    await clickSignInWithIssuer();
    await page.getByRole('heading', { level: 1, name: 'roles-probe' }).waitFor();
    await page.getByRole('heading', { name: 'Debug sessions' }).waitFor();
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'MCP servers', exact: true }).waitFor();
    expect(await nav.getByRole('link', { name: 'Secrets', exact: true }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'Audit trail', exact: true }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Edit or delete' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /Start/ }).count()).toBe(0);
    await openFromNav(page, 'MCP servers', 'MCP servers');
    await page.getByRole('link', { name: 'roles-probe', exact: true }).waitFor();
    expect(await page.getByRole('link', { name: 'Create a server' }).count()).toBe(0);
    await audit(page, 'a viewer’s servers');
    // Every page the viewer's navigation lists, and the pages of one resource, show no way to change anything.
    const offered: Record<string, string[]> = {};
    const hrefs = await nav.getByRole('link').evaluateAll((links) => links.map((a) => a.getAttribute('href')!));
    expect(hrefs).toHaveLength(22);
    for (const href of hrefs) {
      await nav.locator(`a[href="${href}"]`).click();
      offered[href] = await writeActionsOn(href);
    }
    for (const href of [`/connectors/${rolesWorkspace.connectorId}`, '/external-users/erin']) {
      await page.goto(href);
      offered[href] = await writeActionsOn(href);
    }
    await page.getByText('region=emea').waitFor(); // the person's attributes, read only
    expect(Object.entries(offered).filter(([, names]) => names.length > 0)).toEqual([]);
    const forced = await page.evaluate(async () => {
      const stored = JSON.parse(sessionStorage.getItem('toolplane.credential') ?? '{}') as { token?: string };
      const res = await fetch('/api/v1/mcp_manager', {
        method: 'POST',
        headers: { authorization: `Bearer ${stored.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'forced' }),
      });
      return { status: res.status, body: (await res.json()) as { code: string } };
    });
    expect(forced).toMatchObject({ status: 403, body: { code: 'auth.forbidden' } });
    expect(pageProblems).toEqual([]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: `Sign in with ${new URL(as.issuer).host}` }).waitFor();
  });

  it("shows an operator a server's governing fields locked, as they are (ADR 0073); a forced change is refused", async () => {
    as.user = { sub: 'otto', claims: { toolplane_workspace: rolesWorkspace.id, teams: ['ops'] } };
    try {
      await page.goto(`/servers/${rolesWorkspace.serverId}/edit`);
      await clickSignInWithIssuer();
      const isPublic = page.locator('#server-public');
      await isPublic.waitFor();
      // The operator may edit the server (its name, its tools) but not who may call it without a policy.
      expect(await isPublic.isDisabled()).toBe(true);
      expect(await page.locator('#server-per-request-auth').isDisabled()).toBe(false);
      await page.getByText('only someone who may change access policies changes this', { exact: false }).waitFor();
      const forced = await page.evaluate(async (id) => {
        const stored = JSON.parse(sessionStorage.getItem('toolplane.credential') ?? '{}') as { token?: string };
        const res = await fetch(`/api/v1/mcp_manager/${id}`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${stored.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ isPublic: true }),
        });
        return res.status;
      }, rolesWorkspace.serverId);
      expect(forced).toBe(403);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: `Sign in with ${new URL(as.issuer).host}` }).waitFor();
    } finally {
      as.user = { sub: 'alice', claims: { toolplane_workspace: workspaceA } };
    }
  });

  it('shows an auditor the trail and usage only', async () => {
    as.user = {
      sub: 'aldo',
      claims: { toolplane_workspace: rolesWorkspace.id },
      scope: 'openid toolplane:management toolplane:audit',
    };
    try {
      await page.goto('/audit');
      await clickSignInWithIssuer();
      await page.getByRole('heading', { level: 1, name: 'Audit trail' }).waitFor();
      await page.getByText('role_mapping.update').first().waitFor();
      const links = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts();
      expect(links).toEqual(['Overview', 'Usage', 'Least privilege', 'Audit trail']);
      await openFromNav(page, 'Usage', 'Usage');
      // The trail's exporters, linked from the trail: their delivery, read; no way to add, pause or delete one.
      await openFromNav(page, 'Audit trail', 'Audit trail');
      await page.getByRole('link', { name: 'Audit exporters' }).click();
      await page.getByRole('heading', { level: 1, name: 'Audit exporters' }).waitFor();
      await page.getByRole('table', { name: 'Audit exporters and their delivery' }).getByText('siem').waitFor();
      expect(await page.getByRole('heading', { name: 'Add an exporter' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: /^(Pause|Resume|Delete)/ }).count()).toBe(0);
      expect(pageProblems).toEqual([]);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: `Sign in with ${new URL(as.issuer).host}` }).waitFor();
    } finally {
      as.user = { sub: 'alice', claims: { toolplane_workspace: workspaceA } };
    }
  });
});

/** A secret-shaped argument (`format: password`): the approvals inbox must show it masked, never in its HTML. */
const PASSCODE = 'passcode-5b8d21e7c4';

/** An orders API whose delete_order needs the approval of the signed-in user alice (ADR 0049). */
let orders: { upstream: Server; received: string[]; client: Client; admin: ManagementClient };

async function governedOrders(): Promise<typeof orders> {
  const received: string[] = [];
  const upstream = createServer((req, res) => {
    received.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"done":true}');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const admin = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  const document = {
    openapi: '3.1.0',
    info: { title: 'Orders', version: '1.0.0' },
    paths: {
      '/orders/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        delete: {
          operationId: 'delete_order',
          parameters: [{ name: 'passcode', in: 'query', schema: { type: 'string', format: 'password' } }],
          responses: { '200': { description: 'Deleted', content: { 'application/json': {} } } },
        },
      },
    },
  };
  const connector = await unwrap(admin.POST('/connectors', { body: document as never }));
  const base_url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const instance = await unwrap(
    admin.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'orders', base_url, credentials: {} },
    }),
  );
  const server = await unwrap(
    admin.POST('/mcp_manager', {
      body: {
        name: 'orders-governed',
        mode: 'NORMAL',
        connectorInstanceId: instance.id,
        approvalTools: ['delete_order'],
        approvalRule: { approvers: { subjects: ['alice'] } },
      },
    }),
  );
  const client = new Client({ name: 'approvals-inbox', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${server.id}`), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  return { upstream, received, client, admin };
}

/** The agent calls delete_order through the official SDK client: whether it failed, and the approval it was told of. */
async function deleteOrder(id: string): Promise<{ isError: boolean; approval?: { id: string } }> {
  const r = await orders.client.callTool({ name: 'delete_order', arguments: { id, passcode: PASSCODE } });
  const meta = r._meta as Record<string, { id: string }> | undefined;
  return {
    isError: r.isError === true,
    ...(meta?.['toolplane/approval'] ? { approval: meta['toolplane/approval'] } : {}),
  };
}

/** A button's or link's name that changes the workspace: none may show to a caller who may only read. */
const writeVerbs = [
  ...['Create', 'Add', 'Delete', 'Save', 'Edit', 'Change', 'Rotate', 'Revoke', 'Remove', 'Pause', 'Resume', 'Update'],
  ...['Upgrade', 'Approve', 'Deny', 'Accept', 'Reject', 'Start', 'Stop', 'Import', 'Connect', 'Disconnect', 'Upload'],
  ...['Set', 'Register', 'Deploy', 'Roll back', 'Test', 'Preview', 'Validate'],
];
const writeAction = new RegExp(`^(${writeVerbs.join('|')})\\b`);

/**
 * The page at `href` once loaded (its heading, nothing "Loading…") and the viewer's powers known (the navigation
 * without Secrets): the names of the write actions it offers.
 */
async function writeActionsOn(href: string): Promise<string[]> {
  const secrets = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Secrets', exact: true });
  await waitFor(`${href} loaded`, async () => page.url().endsWith(href) && (await secrets.count()) === 0);
  await page.getByRole('heading', { level: 1 }).first().waitFor();
  await waitFor(`${href} without "Loading…"`, async () => (await page.locator('.loading').count()) === 0);
  const controls = page.getByRole('button', { name: writeAction }).or(page.getByRole('link', { name: writeAction }));
  // The main navigation only opens pages (its "Change requests" names a page, not an action).
  return controls.evaluateAll((found) =>
    found
      .filter((e) => !e.closest('nav[aria-label="Main"]'))
      .map((e) => e.getAttribute('aria-label') ?? e.textContent ?? ''),
  );
}

/**
 * One of each resource whose rows carry write actions (a person with attributes, a quota, a guardrail, an access
 * policy, a connector and its instance, an audit exporter), so that a read-only page has rows to offer none on.
 */
async function seedReadOnlyRows(key: ManagementClient): Promise<string> {
  await unwrap(key.POST('/external_users', { body: { name: 'erin', attributes: { region: 'emea' } } }));
  await unwrap(
    key.POST('/quotas', {
      body: { name: 'daily', match: { tools: ['*'] }, counts: 'calls', limit: 10, window: 'day' },
    }),
  );
  await unwrap(
    key.POST('/guardrails', {
      body: { name: 'no-secrets', detectors: [{ kind: 'secrets' }], action: 'redact' } as never,
    }),
  );
  await unwrap(
    key.POST('/access_policies', {
      body: { name: 'vera', principals: [{ type: 'oauth_subject', value: 'vera' }], servers: ['*'], tools: ['*'] },
    }),
  );
  const document = {
    openapi: '3.1.0',
    info: { title: 'Probe', version: '1.0.0' },
    paths: { '/ping': { get: { operationId: 'ping', responses: { '200': { description: 'OK' } } } } },
  };
  const connector = await unwrap(key.POST('/connectors', { body: document as never }));
  await unwrap(
    key.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: connector.id,
        name: 'probe',
        base_url: 'http://127.0.0.1:9',
        credentials: {},
      },
    }),
  );
  await unwrap(
    key.POST('/audit_exporters', { body: { name: 'siem', target: { type: 'syslog', host: '127.0.0.1', port: 9 } } }),
  );
  return connector.id;
}

/** Starts the sign-in from the sign-in page: the issuer's button. */
async function clickSignInWithIssuer(): Promise<void> {
  await page.getByRole('button', { name: `Sign in with ${new URL(as.issuer).host}` }).click();
}

describe('the dashboard signs users in with the OAuth issuer', () => {
  it('signs in with the authorization code flow (PKCE, resource) and comes back to the page it started from', async () => {
    as.requests.length = 0;
    await page.goto('/records?outcome=error');
    await page.getByRole('heading', { level: 2, name: 'Your organisation’s account' }).waitFor();
    await audit(page, 'sign-in (OAuth and API key)');
    await clickSignInWithIssuer();
    await page.getByRole('heading', { level: 1, name: 'Execution records' }).waitFor();
    // Back where it started, the code gone from the address bar; the user named in the header.
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe('/records?outcome=error');
    await page.getByText('alice', { exact: true }).waitFor();
    const authorize = new URL(
      as.requests.find((r) => r.startsWith('/authorize'))!,
      as.issuer,
    ).searchParams;
    expect(Object.fromEntries(authorize)).toMatchObject({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: `${stack.controlPlaneUrl}/oauth/callback`,
      scope: 'openid toolplane:management toolplane:runtime',
      code_challenge_method: 'S256',
      resource: audience,
    });
    expect(authorize.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorize.get('state')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(as.requests.filter((r) => r === '/token')).toHaveLength(1);
    const kept = await page.evaluate(() => JSON.parse(sessionStorage.getItem('toolplane.credential') ?? 'null'));
    expect(kept).toMatchObject({ kind: 'token', subject: 'alice', scopes: ['management', 'runtime'] });
    expect(pageProblems).toEqual([]);
  });

  it('works as a session does: pages, and "Try a tool" with a runtime key, since the token is for the API only', async () => {
    await openFromNav(page, 'MCP servers', 'MCP servers');
    await page.getByRole('link', { name: 'support', exact: true }).click();
    await page.getByRole('heading', { name: 'Try a tool' }).waitFor();
    await page.getByLabel('Tool', { exact: true }).selectOption('get_ticket');
    await page.getByLabel(/^ticket_id/).fill('TCK-1');
    await page.getByLabel('API key for MCP calls').fill(stack.bootstrapKey);
    await page.getByRole('button', { name: 'Call tool' }).click();
    const outcome = page.getByRole('status').filter({ has: page.getByLabel('Tool result') });
    await outcome.waitFor();
    expect(await outcome.locator('p').innerText()).toBe('Result');
    await audit(page, 'try a tool (signed in with OAuth)');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: `Sign in with ${new URL(as.issuer).host}` }).waitFor();
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual([]);
  });

  it('is the approvals inbox of a user the rule names: masked arguments, approve with a comment (the retry runs once), a 409 shown', async () => {
    orders = await governedOrders();
    const first = await deleteOrder('o-1');
    expect(first.isError).toBe(true);
    await waitFor('the request in the control plane', () =>
      orders.admin.GET('/approvals/{id}', { params: { path: { id: first.approval!.id } } }).then((r) => r.data),
    );
    await page.goto('/');
    await clickSignInWithIssuer();
    await page.getByText('alice', { exact: true }).waitFor();
    await openFromNav(page, 'Approvals', 'Approvals');
    const row = page.locator(`tr[data-id="${first.approval!.id}"]`);
    await row.getByRole('rowheader', { name: 'API key bootstrap' }).waitFor();
    await row.getByText('0 of 1 approval given').waitFor();
    await row.getByText('Approvers: user alice').waitFor();
    expect(await row.getByLabel('Arguments of delete_order (secret values masked)').innerText()).toContain(
      '"passcode": "[masked]"',
    );
    expect(await page.content()).not.toContain(PASSCODE);
    await audit(page, 'approvals inbox');

    await row.getByLabel('Comment on delete_order on orders-governed (optional)').fill('the customer asked');
    await row.getByRole('button', { name: 'Approve delete_order on orders-governed' }).click();
    await row.getByRole('status').getByText('Approved: the request is granted.').waitFor();
    await row.getByText('granted', { exact: true }).waitFor();
    await row.getByText('Approved by user alice: the customer asked').waitFor();
    // The agent's retry runs the call, once.
    expect((await deleteOrder('o-1')).isError).toBe(false);
    expect(orders.received).toEqual([`DELETE /orders/o-1?passcode=${PASSCODE}`]);

    // Decided elsewhere while the page showed it pending: the refusal (409) is shown in the row.
    const second = await deleteOrder('o-2');
    await waitFor('the second request in the control plane', () =>
      orders.admin.GET('/approvals/{id}', { params: { path: { id: second.approval!.id } } }).then((r) => r.data),
    );
    await page.getByRole('button', { name: 'Refresh' }).click();
    const other = page.locator(`tr[data-id="${second.approval!.id}"]`);
    await other.getByRole('button', { name: 'Deny delete_order on orders-governed' }).waitFor();
    const alice = asUser(await accessToken({ toolplane_workspace: workspaceA }));
    await unwrap(alice.POST('/approvals/{id}/approve', { params: { path: { id: second.approval!.id } }, body: {} }));
    await other.getByRole('button', { name: 'Deny delete_order on orders-governed' }).click();
    await other
      .getByRole('alert')
      .getByText(/^Not denied:.*it was decided already \(HTTP 409, resource\.conflict\)$/)
      .waitFor();
    expect(pageProblems).toEqual([]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: `Sign in with ${new URL(as.issuer).host}` }).waitFor();
  });

  it('lets a signed-in user approve by a group their token names (OAUTH_GROUPS_CLAIM); another group is refused', async () => {
    // The rule now names the fraud desk's group too: the requests made under it need one of them (or alice).
    await unwrap(
      orders.admin.PATCH('/mcp_manager/{id}', {
        params: { path: { id: 'orders-governed' } },
        body: { approvalRule: { approvers: { subjects: ['alice'], groups: ['fraud-desk'] } } },
      }),
    );
    const third = await waitFor('a request under the rule naming the group', async () => {
      const asked = await deleteOrder('o-3');
      const row = asked.approval
        ? await orders.admin.GET('/approvals/{id}', { params: { path: { id: asked.approval.id } } }).then((r) => r.data)
        : undefined;
      return row?.rule.approvers.groups?.includes('fraud-desk') ? row : undefined;
    });
    expect(third.rule.approvers.groups).toEqual(['fraud-desk']);
    const approve = (token: string) =>
      asUser(token).POST('/approvals/{id}/approve', { params: { path: { id: third.id } }, body: {} });
    const support = await accessToken({ toolplane_workspace: workspaceA, groups: ['support'] }, { sub: 'dave' });
    expect((await approve(support)).response.status).toBe(403);
    // A space-separated claim names groups too.
    const desk = await accessToken({ toolplane_workspace: workspaceA, groups: 'other fraud-desk' }, { sub: 'carol' });
    expect(await unwrap(approve(desk))).toMatchObject({
      state: 'granted',
      decisions: [{ approver: { type: 'oauth_subject', id: 'carol' }, decision: 'approve' }],
    });
    const before = orders.received.length;
    expect((await deleteOrder('o-3')).isError).toBe(false);
    expect(orders.received.slice(before)).toEqual([`DELETE /orders/o-3?passcode=${PASSCODE}`]);
  });

  it('shows the issuer refusing, a forged callback, and a token for no workspace, and signs nobody in', async () => {
    as.user = { sub: 'alice', claims: { toolplane_workspace: workspaceA }, deny: true };
    await clickSignInWithIssuer();
    await page.getByRole('alert').getByText('The issuer refused the sign-in: access_denied.').waitFor();
    expect(new URL(page.url()).pathname).toBe('/');

    await page.goto(`/oauth/callback?code=stolen&state=guessed&iss=${encodeURIComponent(as.issuer)}`);
    await page
      .getByRole('alert')
      .getByText(/No sign-in was started in this tab/)
      .waitFor();

    as.user = { sub: 'mallory', claims: { toolplane_workspace: randomUUID() } };
    await clickSignInWithIssuer();
    await page
      .getByRole('alert')
      .getByText(/does not exist \(HTTP 403, auth\.forbidden\)/)
      .waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('toolplane.credential'))).toBeNull();
    expect(pageProblems).toEqual([]);
  });

  it('signs the user out when the token expires, saying so', async () => {
    as.user = { sub: 'alice', claims: { toolplane_workspace: workspaceA } };
    as.tokenLifetime = 2;
    as.requests.length = 0;
    try {
      await clickSignInWithIssuer();
      // Signed in (the token redeemed), then out again when it ends, whatever the machine's speed.
      await page.getByRole('alert').getByText('Your sign-in has expired: sign in again.').waitFor();
      expect(as.requests).toContain('/token');
      expect(await page.evaluate(() => sessionStorage.getItem('toolplane.credential'))).toBeNull();
    } finally {
      as.tokenLifetime = 300;
    }
  });

  it('wrote no access token into any service output', () => {
    const output = stack.processes.map((p) => p.output()).join('\n');
    expect(output.length).toBeGreaterThan(0);
    for (const token of issued) expect(output).not.toContain(token);
    expect(output).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
  });
});
