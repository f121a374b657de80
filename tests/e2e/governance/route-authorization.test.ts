import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { SignJWT } from 'jose';
import { rolesAllow, type Role } from '../../../services/control-plane/src/http/roles.ts';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';
import { samlSignIn, startSamlIdp, type SamlIdp } from '../../helpers/saml-idp.ts';
import { startTestStack } from '../../helpers/stack.ts';

// Authorization is decided on the route that matched (docs/security.md): every operation of
// docs/openapi.json, for every kind of key, is sent with its path as written and in variants (case, trailing and
// doubled slashes, percent-encoded letters, `;param`, dot segments, an encoded slash). A variant never gets further
// than the plain path: where the plain path is refused, so is every variant; where the plain path reaches the
// handler, a variant is refused, no route (404), or the same answer. The declarations (`x-server-limited-keys`) are checked
// against the plain answers of keys limited to servers. People signed in with SAML (`tps_` session tokens, ADR 0083)
// are answered by their roles (roles.ts `rolesAllow`) and their session's scopes, with the same variants; a narrowed
// token (ADR 0084) is refused on every operation.

type Access = 'refused' | 'own_server' | 'server_admin' | 'server_query' | 'filtered';
interface Operation {
  method: string;
  path: string;
  access: Access;
  scope: string;
  body: boolean;
}
type KeyKind = 'runtime_only' | 'management' | 'limited' | 'limited_server_admin' | 'other_workspace';
// In this order: of the keys that may, the last two delete the limited keys' server (the last operation).
const keyKinds: KeyKind[] = ['runtime_only', 'limited', 'other_workspace', 'limited_server_admin', 'management'];

const document = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<
    string,
    Record<string, { 'x-server-limited-keys'?: Access; 'x-scope'?: string; requestBody?: unknown; security?: [] }>
  >;
};
const operations: Operation[] = Object.entries(document.paths)
  .flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      access: op['x-server-limited-keys']!,
      scope: op['x-scope'] ?? 'management',
      body: op.requestBody !== undefined,
      public: op.security?.length === 0,
    })),
  )
  .filter((o) => !o.public)
  // Deleting the limited keys' server comes last: every other operation runs against it first.
  .sort((a, b) => Number(isServerDelete(a)) - Number(isServerDelete(b)));

function isServerDelete(o: { method: string; path: string }): boolean {
  return o.method === 'DELETE' && o.path === '/mcp_manager/{id}';
}

/** A status that means the request reached no handler's work: refused, malformed, or no such route. */
const refusedStatuses = new Set([400, 401, 403, 404, 405]);

let stack: Stack;
let api: ManagementClient;
let direct: URL;
let ownServer: string;
let otherServer: string;
/** A deployment of the limited keys' server, so that redeploying and withdrawing it would do something. */
let deployment: string;
const keys = {} as Record<KeyKind, string>;
/** A key with the `approve` scope only (an approver's): the approval requests, nothing else. */
let approveOnly: string;
/**
 * The people of this file and the roles their groups map to: signed in with SAML (a `tps_` session token each), or
 * with an OAuth access token of the control plane's issuer (the dashboard's OIDC sign-in). The admin comes last: its
 * writes (the role mapping among them) must not change what the others find.
 */
const personRoles = {
  saml_viewer: ['viewer'],
  saml_operator: ['operator'],
  oidc_operator: ['operator'],
  saml_admin: ['admin'],
} satisfies Record<string, Role[]>;
type PersonKind = keyof typeof personRoles;
const personKinds = Object.keys(personRoles) as PersonKind[];
const tokens = {} as Record<PersonKind, string>;
/** The control plane's OAuth issuer (OAUTH_*), and the audience of its access tokens. */
let issuer: LocalAuthorizationServer;
const audience = 'https://toolplane.route-authz.test/api';
/**
 * The scopes the people's sessions and tokens carry: every one a key limited to no server may hold, so that their roles
 * alone decide (`admin`: creating workspaces; `audit`: the trail and its exporters).
 */
const personScopes = ['management', 'runtime', 'admin', 'audit'];
/** Whether `personScopes` include the operation's (`approve` comes with `management`). */
const scopeHeld = (scope: string) =>
  scope === 'any' || personScopes.includes(scope) || (scope === 'approve' && personScopes.includes('management'));
/** A server of the SAML people's own: the operator's changes (deploy, delete) leave the keys' server as it is. */
let samlServer: string;
let workspaceId: string;
let idp: SamlIdp;
/** The role mapping of this file: each SAML person's group to its role. */
const roleMapping = {
  groupsClaim: null,
  assignments: Object.entries(personRoles).map(([group, roles]) => ({ group, roles })),
};

beforeAll(async () => {
  // A narrowed token is refused (401) on every operation: more than the control plane's budget of unauthenticated
  // requests per address, which would answer 429 before deciding (and then refuse this file's other keys too).
  let acs = '';
  idp = await startSamlIdp({
    acsUrl: () => acs,
    workspaceId: () => workspaceId,
    person: () => ({ subject: 'nobody@example.com', groups: [] }),
  });
  issuer = await startAuthorizationServer();
  const oauth = { OAUTH_ISSUER: issuer.issuer, OAUTH_JWKS_URL: `${issuer.issuer}/jwks`, OAUTH_AUDIENCE: audience };
  const started = await startTestStack('route-authz', {
    serviceEnv: {
      'control-plane': { UNAUTH_RATE_LIMIT: '0', ...idp.env(), SAML_SCOPES: personScopes.join(' '), ...oauth },
    },
  });
  ({ stack, api } = started);
  direct = new URL(started.directControlPlaneUrl);
  acs = `${started.directControlPlaneUrl}/saml/acs`;
  workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
  await unwrap(api.PUT('/role_mappings', { body: roleMapping }));
  for (const kind of personKinds) {
    const person = { subject: `${kind}@example.com`, groups: [kind] };
    tokens[kind] = kind.startsWith('saml_')
      ? await samlSignIn(idp, started.directControlPlaneUrl, person)
      : await oauthToken(person);
  }
  const server = async (name: string) => (await unwrap(api.POST('/mcp_manager', { body: { name } }))).id;
  ownServer = await server('own');
  samlServer = await server('saml');
  otherServer = await server('other');
  const flow = JSON.stringify({
    flower: '0.1',
    id: 'probe',
    flows: [{ id: 'probe', steps: [{ id: 'get', request: { method: 'GET', url: 'http://127.0.0.1:9/probe' } }] }],
  });
  const deployed = await unwrap(
    api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: ownServer } }, body: { definition: flow } }),
  );
  deployment = (deployed as { id: string }).id;
  type Scope = 'runtime' | 'management' | 'server_admin' | 'approve';
  const key = async (name: string, scopes: Scope[], serverIds?: string[]) =>
    (await unwrap(api.POST('/api_keys', { body: { name, scopes, ...(serverIds ? { serverIds } : {}) } }))).key;
  keys.runtime_only = await key('runtime only', ['runtime']);
  keys.management = await key('management', ['management']);
  keys.limited = await key('limited', ['management'], [ownServer]);
  keys.limited_server_admin = await key('limited admin', ['management', 'server_admin'], [ownServer]);
  approveOnly = await key('approver', ['approve']);
  const workspace = await unwrap(api.POST('/workspaces', { body: { name: 'elsewhere' } }));
  keys.other_workspace = workspace.apiKey.key;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await idp?.close();
  await issuer?.close();
});

/** An access token of the control plane's issuer for a person of this workspace (as the dashboard's OIDC sign-in gets). */
function oauthToken(person: { subject: string; groups: string[] }): Promise<string> {
  const scope = personScopes.map((x) => `toolplane:${x}`).join(' ');
  return new SignJWT({ scope, toolplane_workspace: workspaceId, groups: person.groups })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(issuer.issuer)
    .setSubject(person.subject)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(issuer.signingKey);
}

/** The operation's path with its parameters filled: the limited keys' own server (or `server`), unknown ids elsewhere. */
function concrete(op: Operation, server = ownServer): string {
  return op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    if (name === 'id' && /^\/(?:mcp_manager|mcp_servers)\//.test(op.path)) return server;
    if (name === 'deploymentId') return deployment;
    if (name === 'name' || name === 'secret' || name === 'external') return 'nobody';
    return randomUUID();
  });
}

/** Literal segments of `/api/v1` + the operation's path (not its parameters), by index. */
function literalIndexes(op: Operation): number[] {
  return ['', 'api', 'v1', ...op.path.split('/').slice(1)].flatMap((s, i) => (s && !s.startsWith('{') ? [i] : []));
}

function flipCase(s: string): string {
  const i = [...s].findIndex((c) => c.toLowerCase() !== c.toUpperCase());
  if (i < 0) return s;
  const c = s[i]!;
  return s.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + s.slice(i + 1);
}

function percentEncodeLetter(s: string): string {
  const i = [...s].findIndex((c) => /[a-z]/i.test(c));
  return i < 0 ? s : s.slice(0, i) + '%' + s.charCodeAt(i).toString(16).toUpperCase() + s.slice(i + 1);
}

/** The variants of a concrete path, each named. */
function variants(op: Operation, path: string): [string, string][] {
  const segments = `/api/v1${path}`.split('/');
  const at = (i: number, f: (s: string) => string) => segments.map((s, j) => (j === i ? f(s) : s)).join('/');
  const out: [string, string][] = [['upper case', `/api/v1${path}`.toUpperCase()]];
  for (const i of literalIndexes(op)) {
    out.push([`mixed case of "${segments[i]}"`, at(i, flipCase)]);
    out.push([`percent-encoded letter in "${segments[i]}"`, at(i, percentEncodeLetter)]);
    out.push([`;param after "${segments[i]}"`, at(i, (s) => `${s};x=1`)]);
  }
  const last = segments.length - 1;
  out.push(['trailing slash', `/api/v1${path}/`]);
  out.push(['doubled slash at the start', `//api/v1${path}`]);
  out.push(['doubled slash before the last segment', at(last, (s) => `/${s}`)]);
  out.push(['dot segment', `/api/v1/.${path}`]);
  if (last > 3) out.push(['encoded slash', segments.slice(0, last).join('/') + '%2F' + segments[last]]);
  return out;
}

/** One request with its path sent exactly as given (no URL normalisation); `key` a key, or the headers to send. */
function send(method: string, path: string, key: string | Record<string, string>, body: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: direct.hostname,
        port: direct.port,
        method,
        path,
        headers: {
          ...(typeof key === 'string' ? { 'x-api-key': key } : key),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        res.resume();
        // A path no API route has may be one of the dashboard's pages (its HTML, served for any GET it does not
        // know): no route of the API, as a 404.
        const page = res.statusCode === 200 && /^text\/html/.test(res.headers['content-type'] ?? '');
        res.on('end', () => resolve(page ? 404 : res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(body ? '{}' : undefined);
  });
}

/**
 * The operation at `path` sent in every variant, then as written: the plain path's status, and each variant that went
 * further (reached a handler where the plain path did not, or answered otherwise).
 */
async function plainAndVariants(
  op: Operation,
  path: string,
  key: string | Record<string, string>,
): Promise<{ status: number; departed: string[] }> {
  // Variants first: one that wrongly reached a handler changes what the plain path then finds.
  const answers: [string, number][] = [];
  for (const [name, variant] of variants(op, path)) answers.push([name, await send(op.method, variant, key, op.body)]);
  const status = await send(op.method, `/api/v1${path}`, key, op.body);
  const departed = answers
    .filter(([, got]) => !(refusedStatuses.has(got) || (!refusedStatuses.has(status) && got === status)))
    .map(([name, got]) => `${name}: ${got} (plain path: ${status})`);
  return { status, departed };
}

describe('authorization on the resolved route', () => {
  it('refuses a limited key without server_admin deploying, redeploying, withdrawing and deleting, whatever the case', async () => {
    const server = `/api/v1/mcp_servers/${ownServer}`;
    // The path, and the literal segment whose case changes (the review's `…/Deploy`, `…/dEploy`, `…/Redeploy`).
    for (const [method, path, segment] of [
      ['POST', `${server}/deploy`, 'deploy'],
      ['POST', `${server}/deployments/${deployment}/redeploy`, 'redeploy'],
      ['POST', `${server}/deployments/${deployment}/withdraw`, 'withdraw'],
      ['DELETE', `/api/v1/mcp_manager/${ownServer}`, 'mcp_manager'],
    ] as const) {
      const body = method === 'POST';
      expect([path, await send(method, path, keys.limited, body)]).toEqual([path, 403]);
      for (const variant of [
        segment.toUpperCase(),
        segment[0]!.toUpperCase() + segment.slice(1),
        segment[0]! + segment[1]!.toUpperCase() + segment.slice(2),
      ]) {
        const p = path.replace(`/${segment}`, `/${variant}`);
        expect([p, await send(method, p, keys.limited, body)]).toEqual([p, 404]);
      }
    }
    expect(await send('DELETE', `/api/v1/mcp_manager/${otherServer}`, keys.limited_server_admin, false)).toBe(404);
    expect((await api.GET('/mcp_manager/{id}', { params: { path: { id: ownServer } } })).response.status).toBe(200);
  });

  // Before the keys' sweep below, whose management key deletes and rewrites the role mapping.
  it('answers a person signed in (SAML or OIDC) by their roles and scopes on every operation, whatever the variant', async () => {
    const departures: string[] = [];
    const wrong: string[] = [];
    for (const op of operations) {
      for (const kind of personKinds) {
        const person = { authorization: `Bearer ${tokens[kind]}` };
        const { status, departed } = await plainAndVariants(op, concrete(op, samlServer), person);
        departures.push(...departed.map((d) => `${op.method} ${op.path}, ${kind} person, ${d}`));
        const allowed = scopeHeld(op.scope) && rolesAllow(personRoles[kind], op.method, op.path);
        if (allowed ? [401, 403].includes(status) : status !== 403)
          wrong.push(`${op.method} ${op.path}, ${kind} person (${allowed ? 'allowed' : 'refused'}): ${status}`);
      }
      // The admin's PUT or DELETE may have changed the role mapping: the next operation finds it as it was.
      if (op.path === '/role_mappings' && op.method !== 'GET')
        await unwrap(api.PUT('/role_mappings', { body: roleMapping }));
    }
    expect(departures).toEqual([]);
    expect(wrong).toEqual([]);
  }, 600_000);

  it('gives every variant of every operation the decision of its plain path, for every kind of key', async () => {
    const departures: string[] = [];
    const plain = new Map<string, number>();
    for (const op of operations) {
      for (const kind of keyKinds) {
        const { status, departed } = await plainAndVariants(op, concrete(op), keys[kind]);
        plain.set(`${op.method} ${op.path} ${kind}`, status);
        departures.push(...departed.map((d) => `${op.method} ${op.path}, ${kind} key, ${d}`));
      }
    }
    expect(departures).toEqual([]);

    // The declarations hold for keys limited to servers, and the plain paths decide as docs/api.md says.
    const wrong: string[] = [];
    for (const op of operations) {
      const of = (kind: KeyKind) => plain.get(`${op.method} ${op.path} ${kind}`)!;
      const expectRefused = (kind: KeyKind, statuses: number[]) => {
        if (!statuses.includes(of(kind))) wrong.push(`${op.method} ${op.path}, ${kind} key: ${of(kind)}`);
      };
      expectRefused('runtime_only', [403]);
      const limitedExpected: Record<Access, number[] | 'reached'> = {
        refused: [403],
        server_admin: [403],
        own_server: 'reached',
        server_query: [403], // no server_id given
        filtered: 'reached',
      };
      const expected = limitedExpected[op.access];
      if (expected === 'reached') {
        if ([401, 403].includes(of('limited'))) wrong.push(`${op.method} ${op.path}, limited key: ${of('limited')}`);
      } else expectRefused('limited', expected);
      if (op.access === 'refused') expectRefused('limited_server_admin', [403]);
    }
    expect(wrong).toEqual([]);
  }, 600_000);

  it('refuses a narrowed token (ADR 0084) on every operation, even one of a key with every scope', async () => {
    const key = await unwrap(
      api.POST('/api_keys', { body: { name: 'narrowed parent', scopes: ['runtime', 'management', 'server_admin'] } }),
    );
    const res = await fetch(`${stack.edgeUrls[0]}/oauth/token-exchange`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: key.key,
        subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
      }),
    });
    const { access_token } = (await res.json()) as { access_token: string };
    expect(access_token).toMatch(/^tpd_/);
    const reached: string[] = [];
    for (const op of operations) {
      const headers = { authorization: `Bearer ${access_token}` };
      const status = await send(op.method, `/api/v1${concrete(op)}`, headers, op.body);
      if (status !== 401) reached.push(`${op.method} ${op.path}: ${status}`);
    }
    expect(reached).toEqual([]);
  });

  it('covers the enterprise IdPs (ADR 0082): management scope, refused to keys limited to servers', () => {
    const idps = operations.filter((o) => o.path.startsWith('/enterprise_idps'));
    expect(idps.map((o) => [o.method, o.path, o.scope, o.access]).sort()).toEqual([
      ['DELETE', '/enterprise_idps/{id}', 'management', 'refused'],
      ['GET', '/enterprise_idps', 'management', 'refused'],
      ['GET', '/enterprise_idps/{id}', 'management', 'refused'],
      ['PATCH', '/enterprise_idps/{id}', 'management', 'refused'],
      ['POST', '/enterprise_idps', 'management', 'refused'],
    ]);
  });

  it('covers the event subscriptions (ADR 0081): management scope, a limited key sees its servers only', () => {
    const subscriptions = operations.filter((o) => o.path.startsWith('/event_subscriptions'));
    expect(subscriptions.map((o) => [o.method, o.path, o.scope, o.access]).sort()).toEqual([
      ['GET', '/event_subscriptions', 'management', 'filtered'],
      ['GET', '/event_subscriptions/{id}/deliveries', 'management', 'filtered'],
    ]);
  });

  const approveOnlyReach =
    'lets a key with only the approve scope reach the approval and change requests, sign in, its own powers and ' +
    'the served registry, and nothing else';
  it(approveOnlyReach, async () => {
    const wrong: string[] = [];
    const reached: string[] = [];
    for (const op of operations) {
      const status = await send(op.method, `/api/v1${concrete(op)}`, approveOnly, op.body);
      const refused = status === 403;
      const allowed = op.scope === 'approve' || op.scope === 'any';
      if (allowed ? refused || status === 401 : !refused) wrong.push(`${op.method} ${op.path}: ${status}`);
      if (allowed) reached.push(`${op.method} ${op.path}`);
    }
    expect(wrong).toEqual([]);
    expect(reached.sort()).toEqual([
      'GET /approvals',
      'GET /approvals/{id}',
      // Changes that loosen a rule, waiting for another approver (ADR 0079).
      'GET /change_requests',
      'GET /change_requests/{id}',
      // The workspace's served MCP Registry (ADR 0059): read by any credential of the management API.
      'GET /registry/v0.1/servers',
      'GET /registry/v0.1/servers/{serverName}/versions',
      'GET /registry/v0.1/servers/{serverName}/versions/{version}',
      // Who the key is and what its scopes reach: the dashboard's pages for it.
      'GET /workspaces/current',
      'POST /approvals/{id}/approve',
      'POST /approvals/{id}/deny',
      'POST /change_requests/{id}/approve',
      'POST /change_requests/{id}/deny',
      'POST /sign_ins',
    ]);
  });
});
