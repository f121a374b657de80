import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { curatedConnectors } from '@toolplane/connectors';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { SignJWT } from 'jose';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';
import { samlSignIn, startSamlIdp, type SamlIdp } from '../../helpers/saml-idp.ts';
import { startTestStack } from '../../helpers/stack.ts';

/**
 * Four eyes by effect, generated (ADR 0087): a table of create / change / delete requests over
 * every guarded kind (policies, keys, servers, quotas, guardrails, role mappings, external servers, enterprise IdPs,
 * the setting itself) and over workspace-file apply, each tightening or loosening, runs with four eyes on. Whether a
 * request widens anyone's access is computed here, independently of the control plane's own judgement
 * (`loosening.ts` is not imported): from the effective access read before and after through the API (the decision
 * `POST /access_policies/explain` gives each principal × tool × arguments of a grid, keys' scopes and servers, role
 * mappings, public servers, quotas, guardrails, external servers' `autoAccept`, IdPs, who decides). A held request
 * (202) changes nothing until approved, is refused to its requester and to a key the requester created, and once
 * approved by another its effect must widen; a request applied at once must widen nothing.
 *
 * Every role and limited key, sampled: each case is first sent by every requester that may not send it (people
 * signed in with SAML in each role, `viewer`, `operator`, `admin`, `auditor`, `approver`; keys with the runtime,
 * approve or audit scope alone, keys limited to a server with and without `server_admin`, a key of another
 * workspace) and must be refused (403; 404 for a server not the key's own; another workspace's key acts on its own
 * workspace) without changing anything. Who may send what is this file's own oracle (`refusalOf`: the role table's
 * areas, governing fields for whoever may change policies only), from the request as the case would send it. Every
 * case is then sent by the broad management key, and a representative case per area by the requester that may send
 * it besides that key (`by`: an admin person for policies, keys, servers, quotas, roles, people and files; the
 * operator and the limited keys for servers and external servers, where a governing field is refused to them). A
 * held change is refused to every identity its requester controls: itself, a key it created, a key that key created,
 * and for a person the same subject signed in with OIDC and a link another caller makes for the external user who is
 * that person (their name is its subject); a different person (the approver) applies it. The rule names every one of
 * them as a decider, so that what refuses them is whose they are. The operator and the limited keys request nothing
 * that waits (what they may change loosens no rule), so they have no change of their own to approve.
 */

let stack: Stack;
/** The control plane without the contract proxy (SCIM's own routes). */
let direct: string;
let upstream: TicketSystem;
let example: RegisteredExample;
/** The requester: a management key the bootstrap key created. */
let api: ManagementClient;
/** Another person's key, named approver. */
let approver: ManagementClient;
/** A key the requester minted (before the setting was on), named approver too: it never decides its creator's change. */
let minted: ManagementClient;
/** A key `minted` created: its creator's creator is the requester. */
let mintedMinted: ManagementClient;
const ids: Record<string, string> = {};

let samlIdp: SamlIdp;
/** The control plane's OAuth issuer (OIDC sign-in), and its access tokens' audience. */
let issuer: LocalAuthorizationServer;
const audience = 'https://toolplane.four-eyes.test/api';

/** An access token of the control plane's issuer: the person `subject` signed in with OIDC. */
function oauthToken(subject: string, groups: string[], workspaceId: string): Promise<string> {
  return new SignJWT({ scope: 'toolplane:management toolplane:runtime', toolplane_workspace: workspaceId, groups })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(issuer.issuer)
    .setSubject(subject)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(issuer.signingKey);
}

/** The people signed in (SAML), one per role: their group is their role's name, their subject `<role>@gen.example`. */
const people = ['viewer', 'operator', 'admin', 'auditor', 'approver'] as const;
type Person = (typeof people)[number];
const subjectOf = (p: Person) => `${p}@gen.example`;
/** Keys limited by scope (runtime, approve or audit alone), to the example's server (with or without server_admin), or to another workspace. */
const limitedKeys = [
  'runtime key',
  'approve key',
  'audit key',
  'server key',
  'server admin key',
  'other workspace key',
] as const;
/** Every kind of requester: the broad management key (`api`), each person, each limited key. */
type Requester = 'key' | Person | (typeof limitedKeys)[number];
const requesterKinds: Requester[] = ['key', ...people, ...limitedKeys];
const clients = {} as Record<Requester, ManagementClient>;
/** The admin's other identities: the same person signed in with OIDC, a key it created, a key that key created. */
const adminAlso = {} as Record<'oidc' | 'minted' | 'mintedMinted', ManagementClient>;
/** The client a case's changing request goes through (its lookups read through `api`). */
let by: ManagementClient;
/** While set, the planner's requests are recorded here instead of sent. */
let planned: Sent[] | undefined;
/** A client that sends nothing: what a case would send, recorded (`plan`). */
let planner: ManagementClient;

type Rank = 0 | 1 | 2;
const rank = { deny: 0, require_approval: 1, allow: 2 } as const;

/** The effective access, read through the API. */
interface Access {
  grid: Record<string, Rank>;
  keys: Record<string, { scopes: string[]; serverIds: string[] | null }>;
  roles: { configured: boolean; groupsClaim: string | null; pairs: string[] };
  servers: Record<string, boolean>;
  quotas: Record<string, { limit: number; enforce: boolean; tools: string[] | null }>;
  guardrails: Record<string, { enforce: boolean; action: string }>;
  externals: Record<string, boolean>;
  idps: Record<string, string>;
  decide: { enabled: boolean; approvals: number; approvers: string[] };
  /** The SCIM token's prefix (a credential that provisions people and groups), or null. */
  scim: string | null;
}

const principals = () => ({
  agent: { api_key: ids.agent! },
  free: { api_key: ids.free! },
  mallory: { oauth_subject: 'mallory' },
  eve: { oauth_subject: 'eve' },
  // A key a policy names with the person pat (written ahead of pat), acting as pat and as quinn (named by none).
  'delegate as pat': { api_key: ids.delegate!, external_user: 'pat' },
  'delegate as quinn': { api_key: ids.delegate!, external_user: 'quinn' },
});
const calls: [string, Record<string, unknown>][] = [
  ['search_tickets', {}],
  ['get_ticket', { ticket_id: 'T-1' }],
  ['get_ticket', { ticket_id: 'T-2' }],
];

async function grid(): Promise<Access['grid']> {
  const out: Access['grid'] = {};
  for (const [who, caller] of Object.entries(principals()))
    for (const [tool, args] of calls) {
      const e = await api.POST('/access_policies/explain', {
        body: { caller, server: example.serverId, tool, arguments: args },
      });
      // A person who does not exist cannot be explained (422): no access.
      if (!e.response.ok && 'external_user' in caller) out[`${who} ${tool} ${JSON.stringify(args)}`] = 0;
      else out[`${who} ${tool} ${JSON.stringify(args)}`] = rank[(await unwrap(Promise.resolve(e))).decision];
    }
  return out;
}

type Row = Record<string, unknown>;
const rows = (r: unknown): Row[] => ((r as { data?: Row[] }).data ?? (r as Row[])) as Row[];

async function access(): Promise<Access> {
  const roles = (await unwrap(api.GET('/role_mappings'))) as unknown as Row;
  const settings = (await unwrap(api.GET('/change_approvals/settings'))) as unknown as Row;
  const approvers = settings.approvers as Record<string, string[] | undefined>;
  const scim = await api.GET('/scim_token');
  return {
    scim: scim.response.status === 404 ? null : (await unwrap(Promise.resolve(scim))).prefix,
    grid: await grid(),
    keys: Object.fromEntries(
      rows(await unwrap(api.GET('/api_keys'))).map((k) => [
        k.id as string,
        { scopes: k.scopes as string[], serverIds: (k.serverIds as string[] | null | undefined) ?? null },
      ]),
    ),
    roles: {
      configured: roles.configured === true,
      groupsClaim: (roles.groupsClaim as string | null | undefined) ?? null,
      pairs: (roles.assignments as { subject?: string; group?: string; roles: string[] }[]).flatMap((a) =>
        a.roles.map((r) => `${a.subject ?? `group ${a.group}`}: ${r}`),
      ),
    },
    servers: Object.fromEntries(
      rows(await unwrap(api.GET('/mcp_manager'))).map((s) => [s.name as string, s.isPublic === true]),
    ),
    quotas: Object.fromEntries(
      rows(await unwrap(api.GET('/quotas'))).map((q) => [
        q.name as string,
        {
          limit: q.limit as number,
          enforce: q.enforce !== false,
          tools: ((q.match as Row | undefined)?.tools as string[] | undefined) ?? null,
        },
      ]),
    ),
    guardrails: Object.fromEntries(
      rows(await unwrap(api.GET('/guardrails'))).map((g) => [
        g.name as string,
        { enforce: g.enforce !== false, action: g.action as string },
      ]),
    ),
    externals: Object.fromEntries(
      rows(await unwrap(api.GET('/external_mcp_servers'))).map((x) => [x.name as string, x.autoAccept === true]),
    ),
    idps: Object.fromEntries(
      rows(await unwrap(api.GET('/enterprise_idps'))).map((i) => [
        i.name as string,
        `${String(i.issuer)} ${String(i.jwksUrl)} ${String(i.clientId)}`,
      ]),
    ),
    decide: {
      enabled: settings.enabled === true,
      approvals: settings.approvals as number,
      approvers: Object.entries(approvers).flatMap(([kind, list]) => (list ?? []).map((v) => `${kind} ${v}`)),
    },
  };
}

const actionRank: Record<string, number> = { flag: 0, redact: 1, block: 2 };

/** What `after` grants that `before` did not: the test's own oracle, from the effective access alone. */
function widening(before: Access, after: Access): string[] {
  const out: string[] = [];
  for (const [cell, r] of Object.entries(after.grid)) if (r > (before.grid[cell] ?? 0)) out.push(`grid ${cell}`);
  for (const [id, k] of Object.entries(after.keys)) {
    const b = before.keys[id];
    if (!b) out.push(`key ${id} new`);
    else {
      if (k.scopes.some((s) => !b.scopes.includes(s))) out.push(`key ${id} scopes`);
      if (b.serverIds && (!k.serverIds || k.serverIds.some((s) => !b.serverIds!.includes(s))))
        out.push(`key ${id} servers`);
    }
  }
  if (before.roles.configured) {
    if (!after.roles.configured) out.push('roles removed: everyone signed in is an admin');
    else {
      out.push(...after.roles.pairs.filter((p) => !before.roles.pairs.includes(p)).map((p) => `role ${p}`));
      if (after.roles.groupsClaim !== before.roles.groupsClaim) out.push('roles groups claim');
    }
  }
  for (const [name, pub] of Object.entries(after.servers)) if (pub && !before.servers[name]) out.push(`public ${name}`);
  for (const [name, q] of Object.entries(before.quotas)) {
    const a = after.quotas[name];
    if (!a) out.push(`quota ${name} gone`);
    else if (a.limit > q.limit || (q.enforce && !a.enforce)) out.push(`quota ${name} looser`);
    else if (q.tools === null ? a.tools !== null : a.tools !== null && q.tools.some((t) => !a.tools!.includes(t)))
      out.push(`quota ${name} counts less`);
  }
  for (const [name, g] of Object.entries(before.guardrails)) {
    const a = after.guardrails[name];
    if (!a) out.push(`guardrail ${name} gone`);
    else if ((g.enforce && !a.enforce) || actionRank[a.action]! < actionRank[g.action]!)
      out.push(`guardrail ${name} looser`);
  }
  for (const [name, auto] of Object.entries(after.externals))
    if (auto && !before.externals[name]) out.push(`external ${name} autoAccept`);
  for (const [name, idp] of Object.entries(after.idps)) if (before.idps[name] !== idp) out.push(`idp ${name}`);
  if (after.scim !== null && after.scim !== before.scim) out.push('a new SCIM token');
  const [b, a] = [before.decide, after.decide];
  if (b.enabled && !a.enabled) out.push('four eyes off');
  if (a.enabled && a.approvals < b.approvals) out.push('fewer approvals');
  // None named: whoever may change policies decides.
  if (a.enabled && a.approvers.length === 0 && b.approvers.length > 0) out.push('every admin decides');
  if (b.approvers.length > 0)
    out.push(...a.approvers.filter((x) => !b.approvers.includes(x)).map((x) => `decider ${x}`));
  return out;
}

/** One request as sent: method, path under `/api/v1`, JSON body. */
interface Sent {
  method: string;
  path: string;
  body: unknown;
}

/** The areas of the management API the cases change, by path (docs/governance.md "People and roles"). */
const areas: [RegExp, string][] = [
  [/^\/(access_policies|quotas|guardrails|change_approvals)(\/|$)/, 'policies'],
  [/^\/api_keys(\/|$)/, 'keys'],
  [/^\/(mcp_manager|external_mcp_servers)(\/|$)/, 'servers'],
  [/^\/role_mappings$/, 'roles'],
  [/^\/(enterprise_idps|external_users|scim_token)(\/|$)/, 'people'],
  [/^\/workspace_files(\/|$)/, 'files'],
];
/** Fields that decide who may call a server or what is reviewed (ADR 0073): only who may change access policies. */
const governingFields = [
  'isPublic',
  'codeMode',
  'confirmTools',
  'approvalTools',
  'approvalRule',
  'ruleSettings',
  'config',
  'autoAccept',
];

/** What a person holds, from the mapping read back: their group's and subject's roles; no mapping: admin. */
function rolesOfPerson(p: Person, roles: Access['roles']): string[] {
  if (!roles.configured) return ['admin'];
  const named = [`group ${p}: `, `${subjectOf(p)}: `];
  return roles.pairs.flatMap((pair) => named.filter((n) => pair.startsWith(n)).map((n) => pair.slice(n.length)));
}

/**
 * The test's own permission oracle: how `r` is refused the request `sent` (403; 404: a server not its own; elsewhere:
 * a key of another workspace acts on its own workspace, never on this one), or undefined where it may send it. A
 * governing field counts when named: no case names one with its stored value.
 */
function refusalOf(r: Requester, sent: Sent, roles: Access['roles']): 403 | 404 | 'elsewhere' | undefined {
  const area = areas.find(([pattern]) => pattern.test(sent.path))?.[1];
  if (area === undefined) throw new Error(`no area for ${sent.method} ${sent.path}`);
  const body = typeof sent.body === 'object' && sent.body !== null ? (sent.body as Row) : {};
  const governing = governingFields.some((f) => body[f] !== undefined);
  if (r === 'key') return undefined;
  if (r === 'runtime key' || r === 'approve key' || r === 'audit key') return 403;
  if (r === 'other workspace key') return 'elsewhere';
  if (r === 'server key' || r === 'server admin key') {
    const server = /^\/mcp_manager\/([^/]+)$/.exec(sent.path)?.[1];
    if (server === undefined) return 403;
    if (server !== example.serverId) return 404;
    if (sent.method === 'DELETE') return r === 'server admin key' ? undefined : 403;
    return governing ? 403 : undefined;
  }
  const held = rolesOfPerson(r, roles);
  if (held.includes('admin')) return undefined;
  return held.includes('operator') && area === 'servers' && !governing ? undefined : 403;
}

/** What the case sends, recorded and not sent. */
async function plan(c: Case): Promise<Sent> {
  planned = [];
  by = planner;
  try {
    await c.send();
    expect(planned).toHaveLength(1);
    return planned[0]!;
  } finally {
    by = api;
    planned = undefined;
  }
}

/** The case sent by `r`. */
async function sendAs(r: Requester, c: Case): Promise<{ data?: unknown; response: Response }> {
  by = clients[r];
  try {
    return await c.send();
  } finally {
    by = api;
  }
}

/** A requester's identities other than the requester, and the different person who approves what it requested. */
function identitiesOf(r: Requester): {
  controlled: [string, ManagementClient][];
  other: ManagementClient;
  person?: string;
} {
  if (r === 'key')
    return {
      controlled: [
        ['itself', api],
        ['a key it created', minted],
        ['a key its key created', mintedMinted],
      ],
      other: approver,
    };
  if (r === 'admin')
    return {
      controlled: [
        ['itself', clients.admin],
        ['the same person signed in with OIDC', adminAlso.oidc],
        ['a key it created', adminAlso.minted],
        ['a key its key created', adminAlso.mintedMinted],
      ],
      other: clients.approver,
      // The external user whose name is its subject: the same person, deciding through a link another made.
      person: subjectOf('admin'),
    };
  throw new Error(`${r} requests nothing that waits`);
}

type Answer = Promise<{ data?: unknown; response: Response }>;

interface Case {
  name: string;
  /** Who sends it (the broad key when not named); every other requester is tried first, where it may not. */
  by?: Requester;
  /** Sends the request; `held` reads the change request's id from a 202 (or an apply waiting for approval). */
  send: () => Answer;
  held?: (data: unknown) => string | undefined;
}

const idOf = (data: unknown) => (data as { changeRequest?: { id: string } }).changeRequest?.id;
const filesHeld = (data: unknown) =>
  (data as { outcome: string; waiting?: { changeRequest: { id: string } } }).outcome === 'waits_for_approval'
    ? (data as { waiting: { changeRequest: { id: string } } }).waiting.changeRequest.id
    : undefined;

const byName = async (path: '/access_policies' | '/quotas' | '/guardrails' | '/external_mcp_servers', name: string) =>
  rows(await unwrap(api.GET(path as '/quotas'))).find((r) => r.name === name)!.id as string;
const serverId = async (name: string) =>
  rows(await unwrap(api.GET('/mcp_manager'))).find((r) => r.name === name)!.id as string;
const keyId = async (name: string) =>
  rows(await unwrap(api.GET('/api_keys'))).find((r) => r.name === name)!.id as string;
const idpId = async (name: string) =>
  rows(await unwrap(api.GET('/enterprise_idps'))).find((r) => r.name === name)!.id as string;

const policy = (body: Row): Answer => by.POST('/access_policies', { body: body as never });
const patchPolicy = async (name: string, body: Row): Answer =>
  by.PATCH('/access_policies/{id}', {
    params: { path: { id: await byName('/access_policies', name) } },
    body: body as never,
  });
const patchQuota = async (body: Row): Answer =>
  by.PATCH('/quotas/{id}', { params: { path: { id: await byName('/quotas', 'gen-quota') } }, body: body as never });
/**
 * Four eyes on, deciders named: the keys `apiKeys` and every person and key of the test (its requesters' own among them),
 * so that what refuses a requester's identities is that they are the requester's, not that the rule names someone else.
 */
const settings = (apiKeys: string[]): Answer =>
  by.PUT('/change_approvals/settings', {
    body: {
      enabled: true,
      approvers: {
        apiKeys: [...apiKeys, ...deciderKeys()],
        subjects: people.map(subjectOf),
        people: [subjectOf('admin')],
      },
      approvals: 1,
      expiresInSeconds: 3600,
    },
  });

/** The keys named to decide besides `settings`' own: the requester's and the admin's keys (never deciding their changes). */
const deciderKeys = () => [ids.mintedMinted!, ids.adminMinted!, ids.adminMintedMinted!];
/** Each person's group mapped to its role, and `extra`. */
const mapRoles = (extra: { subject: string; roles: ('admin' | 'operator')[] }[]): Answer =>
  by.PUT('/role_mappings', {
    body: { groupsClaim: null, assignments: [...people.map((p) => ({ group: p, roles: [p] })), ...extra] },
  });

/** `PATCH` making a server public (the example's when unnamed). */
const serverPublic = async (name?: string): Answer =>
  by.PATCH('/mcp_manager/{id}', {
    params: { path: { id: name === undefined ? example.serverId : await serverId(name) } },
    body: { isPublic: true },
  });

/** Workspace-file apply of the exported files as `edit` changes them (session.yaml kept, unmanaged). */
async function applyFiles(edit: (files: { path: string; content: string }[]) => { path: string; content: string }[]) {
  const { files } = await unwrap(api.GET('/workspace_files'));
  return by.POST('/workspace_files/apply', { body: { files: edit(files.filter((f) => f.path !== 'session.yaml')) } });
}
const replaced = (path: string, from: RegExp, to: string) => (files: { path: string; content: string }[]) =>
  files.map((f) => (f.path === path ? { ...f, content: f.content.replace(from, to) } : f));
const added = (path: string, content: string) => (files: { path: string; content: string }[]) => [
  ...files,
  { path, content },
];

const agentOnly = () => [{ type: 'api_key', value: ids.agent }];
const mallory = [{ type: 'oauth_subject', value: 'mallory' }];
const idp = {
  name: 'gen-idp',
  issuer: 'https://idp.gen.example',
  jwksUrl: 'https://idp.gen.example/jwks',
  clientId: 'agent',
};

/** The table: each kind's requests, in an order where each starts from what the ones before left. */
const cases: Case[] = [
  // Access policies.
  {
    name: 'policy created granting a subject every tool',
    send: () => policy({ name: 'gen-mallory', principals: mallory, servers: ['*'], tools: ['*'] }),
  },
  {
    name: 'policy created naming a key no policy named (narrows it)',
    send: () =>
      policy({
        name: 'gen-free',
        principals: [{ type: 'api_key', value: ids.free }],
        servers: ['*'],
        tools: ['search_tickets'],
      }),
  },
  {
    name: 'policy changed: a tool added',
    send: () => patchPolicy('gen-agent-lists', { tools: ['search_tickets', 'get_ticket'] }),
  },
  { name: 'policy changed: a tool removed', send: () => patchPolicy('gen-agent-lists', { tools: ['search_tickets'] }) },
  { name: 'policy changed: its condition dropped', send: () => patchPolicy('gen-agent-reads', { condition: null }) },
  {
    name: 'policy changed: a narrower condition',
    send: () => patchPolicy('gen-agent-reads', { condition: 'args.ticket_id == "T-2"' }),
  },
  {
    name: 'policy deleted: another still names the key',
    send: async () =>
      by.DELETE('/access_policies/{id}', {
        params: { path: { id: await byName('/access_policies', 'gen-agent-reads') } },
      }),
  },
  {
    name: 'policy created again for the key, without its condition',
    send: () => policy({ name: 'gen-agent-reads', principals: agentOnly(), servers: ['*'], tools: ['get_ticket'] }),
  },
  {
    name: 'policy deleted: the last one naming a key (it calls every tool again)',
    send: async () =>
      by.DELETE('/access_policies/{id}', { params: { path: { id: await byName('/access_policies', 'gen-free') } } }),
  },
  {
    name: 'admin person: policy created granting a subject a tool',
    by: 'admin',
    send: () =>
      policy({
        name: 'gen-eve-search',
        principals: [{ type: 'oauth_subject', value: 'eve' }],
        servers: ['*'],
        tools: ['search_tickets'],
      }),
  },
  // API keys.
  { name: 'key created', send: () => by.POST('/api_keys', { body: { name: 'gen-new', scopes: ['runtime'] } }) },
  {
    name: 'admin person: key created',
    by: 'admin',
    send: () => by.POST('/api_keys', { body: { name: 'gen-admin-new', scopes: ['runtime'] } }),
  },
  {
    name: 'key’s server restriction lifted',
    send: async () =>
      by.PATCH('/api_keys/{id}', { params: { path: { id: await keyId('gen-limited') } }, body: { serverIds: null } }),
  },
  {
    name: 'key limited to a server',
    send: async () =>
      by.PATCH('/api_keys/{id}', {
        params: { path: { id: await keyId('gen-limited') } },
        body: { serverIds: [example.serverId] },
      }),
  },
  {
    name: 'key renamed',
    send: async () =>
      by.PATCH('/api_keys/{id}', {
        params: { path: { id: await keyId('gen-limited') } },
        body: { name: 'gen-limited-renamed' },
      }),
  },
  {
    name: 'key deleted',
    send: async () => by.DELETE('/api_keys/{id}', { params: { path: { id: await keyId('gen-new') } } }),
  },
  // Servers.
  { name: 'server created private', send: () => by.POST('/mcp_manager', { body: { name: 'gen-private' } }) },
  {
    name: 'server made public',
    send: async () =>
      by.PATCH('/mcp_manager/{id}', {
        params: { path: { id: await serverId('gen-private') } },
        body: { isPublic: true },
      }),
  },
  {
    name: 'server’s description changed',
    send: async () =>
      by.PATCH('/mcp_manager/{id}', {
        params: { path: { id: await serverId('gen-private') } },
        body: { description: 'described' },
      }),
  },
  {
    name: 'server created public',
    send: () => by.POST('/mcp_manager', { body: { name: 'gen-public', isPublic: true } }),
  },
  {
    name: 'server deleted',
    send: async () => by.DELETE('/mcp_manager/{id}', { params: { path: { id: await serverId('gen-private') } } }),
  },
  {
    name: 'operator: server created',
    by: 'operator',
    send: () => by.POST('/mcp_manager', { body: { name: 'gen-op' } }),
  },
  { name: 'operator: server made public', by: 'operator', send: () => serverPublic('gen-op') },
  { name: 'admin person: server made public', by: 'admin', send: () => serverPublic('gen-op') },
  {
    name: 'key limited to a server: its server described',
    by: 'server key',
    send: () =>
      by.PATCH('/mcp_manager/{id}', { params: { path: { id: example.serverId } }, body: { description: 'limited' } }),
  },
  {
    name: 'key limited to a server, server_admin: its server made public',
    by: 'server admin key',
    send: () => serverPublic(),
  },
  // Quotas.
  {
    name: 'quota created',
    send: () =>
      by.POST('/quotas', {
        body: { name: 'gen-quota-2', match: { tools: ['search_tickets'] }, counts: 'calls', limit: 100, window: 'day' },
      }),
  },
  { name: 'quota raised', send: () => patchQuota({ limit: 20 }) },
  { name: 'quota lowered', send: () => patchQuota({ limit: 5 }) },
  { name: 'quota counting other tools', send: () => patchQuota({ match: { tools: ['search_tickets'] } }) },
  { name: 'quota turned to log only', send: () => patchQuota({ enforce: false }) },
  {
    name: 'quota deleted',
    send: async () => by.DELETE('/quotas/{id}', { params: { path: { id: await byName('/quotas', 'gen-quota-2') } } }),
  },
  { name: 'admin person: quota raised', by: 'admin', send: () => patchQuota({ limit: 30 }) },
  // Guardrails.
  {
    name: 'guardrail created',
    send: () =>
      by.POST('/guardrails', {
        body: { name: 'gen-guard-2', detectors: [{ kind: 'secrets' }], action: 'redact' } as never,
      }),
  },
  {
    name: 'guardrail made to block',
    send: async () =>
      by.PATCH('/guardrails/{id}', {
        params: { path: { id: await byName('/guardrails', 'gen-guard-2') } },
        body: { action: 'block' } as never,
      }),
  },
  {
    name: 'guardrail made to flag only',
    send: async () =>
      by.PATCH('/guardrails/{id}', {
        params: { path: { id: await byName('/guardrails', 'gen-guard') } },
        body: { action: 'flag' } as never,
      }),
  },
  {
    name: 'guardrail deleted',
    send: async () =>
      by.DELETE('/guardrails/{id}', { params: { path: { id: await byName('/guardrails', 'gen-guard-2') } } }),
  },
  // Role mappings.
  { name: 'role given', send: () => mapRoles([{ subject: 'mallory', roles: ['admin'] }]) },
  { name: 'role taken', send: () => mapRoles([]) },
  { name: 'admin person: role given', by: 'admin', send: () => mapRoles([{ subject: 'eve', roles: ['operator'] }]) },
  { name: 'role mapping removed', send: () => by.DELETE('/role_mappings') },
  { name: 'first role mapping (everyone signed in was an admin)', send: () => mapRoles([]) },
  // External servers.
  {
    name: 'external server registered',
    send: () => by.POST('/external_mcp_servers', { body: { name: 'gen-ext', url: 'http://127.0.0.1:9/mcp' } }),
  },
  {
    name: 'external server registered with autoAccept',
    send: () =>
      by.POST('/external_mcp_servers', {
        body: { name: 'gen-ext-auto', url: 'http://127.0.0.1:9/mcp', autoAccept: true },
      }),
  },
  {
    name: 'external server’s autoAccept on',
    send: async () =>
      by.PATCH('/external_mcp_servers/{id}', {
        params: { path: { id: await byName('/external_mcp_servers', 'gen-ext') } },
        body: { autoAccept: true },
      }),
  },
  {
    name: 'external server’s autoAccept off',
    send: async () =>
      by.PATCH('/external_mcp_servers/{id}', {
        params: { path: { id: await byName('/external_mcp_servers', 'gen-ext') } },
        body: { autoAccept: false },
      }),
  },
  {
    name: 'external server deleted',
    send: async () =>
      by.DELETE('/external_mcp_servers/{id}', {
        params: { path: { id: await byName('/external_mcp_servers', 'gen-ext') } },
      }),
  },
  {
    name: 'operator: external server registered',
    by: 'operator',
    send: () => by.POST('/external_mcp_servers', { body: { name: 'gen-op-ext', url: 'http://127.0.0.1:9/mcp' } }),
  },
  {
    name: 'operator: external server’s autoAccept on',
    by: 'operator',
    send: async () =>
      by.PATCH('/external_mcp_servers/{id}', {
        params: { path: { id: await byName('/external_mcp_servers', 'gen-op-ext') } },
        body: { autoAccept: true },
      }),
  },
  // Enterprise IdPs.
  { name: 'enterprise IdP added', send: () => by.POST('/enterprise_idps', { body: idp }) },
  {
    name: 'enterprise IdP’s keys changed',
    send: async () =>
      by.PATCH('/enterprise_idps/{id}', {
        params: { path: { id: await idpId('gen-idp') } },
        body: { jwksUrl: 'https://elsewhere.gen.example/jwks' },
      }),
  },
  {
    name: 'enterprise IdP removed',
    send: async () => by.DELETE('/enterprise_idps/{id}', { params: { path: { id: await idpId('gen-idp') } } }),
  },
  // Who decides.
  { name: 'approver added', send: () => settings([ids.approver!, ids.minted!, ids.bystander!]) },
  { name: 'approver removed', send: () => settings([ids.approver!, ids.minted!]) },
  // People: a person a policy names reaches what it grants; one named by none reaches nothing.
  { name: 'person added that a policy names', send: () => by.POST('/external_users', { body: { name: 'pat' } }) },
  { name: 'person added that no policy names', send: () => by.POST('/external_users', { body: { name: 'quinn' } }) },
  {
    name: 'person removed',
    send: () => by.DELETE('/external_users/{name}', { params: { path: { name: 'pat' } } }),
  },
  {
    name: 'admin person: person added that a policy names',
    by: 'admin',
    send: () => by.POST('/external_users', { body: { name: 'pat' } }),
  },
  // The directory's credential.
  { name: 'SCIM token created', send: () => by.POST('/scim_token') },
  { name: 'SCIM token deleted', send: () => by.DELETE('/scim_token') },
  // Workspace-file apply, each kind.
  {
    name: 'files: a policy added',
    send: () =>
      applyFiles(
        added(
          'access-policies/gen-file-eve.yaml',
          'name: gen-file-eve\nprincipals:\n  - type: oauth_subject\n    value: eve\nservers:\n  - "*"\ntools:\n  - get_ticket\n',
        ),
      ),
    held: filesHeld,
  },
  {
    name: 'files: a policy given a condition',
    send: () =>
      applyFiles((files) =>
        files.map((f) =>
          f.path === 'access-policies/gen-agent-reads.yaml'
            ? { ...f, content: f.content.replace(/^condition:.*\n/m, '') + 'condition: \'args.ticket_id == "T-9"\'\n' }
            : f,
        ),
      ),
    held: filesHeld,
  },
  {
    name: 'files: a quota lowered',
    send: () => applyFiles(replaced('quotas/gen-quota.yaml', /^limit: \d+$/m, 'limit: 1')),
    held: filesHeld,
  },
  {
    name: 'files: a quota raised',
    send: () => applyFiles(replaced('quotas/gen-quota.yaml', /^limit: \d+$/m, 'limit: 900')),
    held: filesHeld,
  },
  {
    name: 'admin person, files: a quota raised',
    by: 'admin',
    send: () => applyFiles(replaced('quotas/gen-quota.yaml', /^limit: \d+$/m, 'limit: 950')),
    held: filesHeld,
  },
  {
    name: 'files: a quota added',
    send: () =>
      applyFiles(
        added('quotas/gen-file-quota.yaml', 'name: gen-file-quota\nmatch: {}\ncounts: calls\nlimit: 7\nwindow: day\n'),
      ),
    held: filesHeld,
  },
  {
    name: 'files: a key added',
    send: () => applyFiles(added('api-keys/gen-file-key.yaml', 'name: gen-file-key\nscopes:\n  - runtime\n')),
    held: filesHeld,
  },
  {
    name: 'files: a server made public',
    send: () =>
      applyFiles((files) =>
        files.map((f) =>
          f.path === 'mcp-servers/gen-public-2.yaml'
            ? { ...f, content: f.content.replace(/^public:.*\n/m, '') + 'public: true\n' }
            : f,
        ),
      ),
    held: filesHeld,
  },
  {
    name: 'files: a guardrail added',
    send: () =>
      applyFiles(
        added('guardrails/gen-file-guard.yaml', 'name: gen-file-guard\ndetectors:\n  - kind: secrets\naction: block\n'),
      ),
    held: filesHeld,
  },
  {
    name: 'files: a guardrail made to flag only',
    send: () => applyFiles(replaced('guardrails/gen-file-guard.yaml', /^action: block$/m, 'action: flag')),
    held: filesHeld,
  },
  {
    name: 'files: an enterprise IdP added',
    send: () =>
      applyFiles(
        added(
          'enterprise-idps/gen-file-idp.yaml',
          `name: gen-file-idp\nissuer: ${idp.issuer}/2\njwksUrl: ${idp.jwksUrl}\nclientId: agent\nuserClaim: sub\n`,
        ),
      ),
    held: filesHeld,
  },
  {
    name: 'files: a quota removed (prune)',
    send: async () => {
      const { files } = await unwrap(api.GET('/workspace_files'));
      const kept = files.filter((f) => f.path !== 'quotas/gen-file-quota.yaml');
      return by.POST('/workspace_files/apply', { body: { files: kept, prune: true } });
    },
    held: filesHeld,
  },
];

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
}

const approve = (c: ManagementClient, id: string) =>
  unwrap(c.POST('/change_requests/{id}/approve', { params: { path: { id } }, body: {} }));

type Scope = 'management' | 'runtime' | 'approve' | 'audit' | 'server_admin';
const clientOf = (credential: string | { accessToken: string }) =>
  createManagementClient(stack.controlPlaneUrl, credential);
/** Keys the bootstrap key creates. */
const keyMaker = (boot: ManagementClient) => (name: string, scopes: Scope[], serverIds?: string[]) =>
  unwrap(boot.POST('/api_keys', { body: { name, scopes, ...(serverIds ? { serverIds } : {}) } }));

/** A management key `creator` creates, its id kept as `ids[name]`. */
async function mint(creator: ManagementClient, name: string): Promise<ManagementClient> {
  const made = await unwrap(creator.POST('/api_keys', { body: { name, scopes: ['management', 'approve'] } }));
  ids[name] = made.id;
  return clientOf(made.key);
}

/**
 * Every requester but the broad key (before four eyes is on: keys created later would wait): the keys it and the
 * admin created, the limited keys, each person signed in with SAML, the admin with OIDC too and as an external user.
 */
async function startRequesters(boot: ManagementClient, workspaceId: string): Promise<void> {
  const key = keyMaker(boot);
  minted = await mint(api, 'minted');
  mintedMinted = await mint(minted, 'mintedMinted');
  clients.key = api;
  clients['runtime key'] = clientOf((await key('gen-runtime-only', ['runtime'])).key);
  clients['approve key'] = clientOf((await key('gen-approve-only', ['approve'])).key);
  clients['audit key'] = clientOf((await key('gen-audit-only', ['audit'])).key);
  clients['server key'] = clientOf((await key('gen-server-key', ['management'], [example.serverId])).key);
  const serverAdmin = await key('gen-server-admin-key', ['management', 'server_admin'], [example.serverId]);
  clients['server admin key'] = clientOf(serverAdmin.key);
  const elsewhere = await unwrap(boot.POST('/workspaces', { body: { name: 'gen-elsewhere' } }));
  clients['other workspace key'] = clientOf(elsewhere.apiKey.key);
  // Each person's group mapped to its role, then each signed in with SAML; the admin with OIDC too, and its keys.
  await unwrap(mapRoles([]));
  for (const p of people)
    clients[p] = clientOf({ accessToken: await samlSignIn(samlIdp, direct, { subject: subjectOf(p), groups: [p] }) });
  adminAlso.oidc = clientOf({ accessToken: await oauthToken(subjectOf('admin'), ['admin'], workspaceId) });
  adminAlso.minted = await mint(clients.admin, 'adminMinted');
  adminAlso.mintedMinted = await mint(adminAlso.minted, 'adminMintedMinted');
  await unwrap(api.POST('/external_users', { body: { name: subjectOf('admin') } }));
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'gen-key' });
  let acs = '';
  let workspaceId = '';
  samlIdp = await startSamlIdp({
    acsUrl: () => acs,
    workspaceId: () => workspaceId,
    person: () => ({ subject: 'nobody@gen.example', groups: [] }),
  });
  issuer = await startAuthorizationServer();
  const oauth = { OAUTH_ISSUER: issuer.issuer, OAUTH_JWKS_URL: `${issuer.issuer}/jwks`, OAUTH_AUDIENCE: audience };
  const started = await startTestStack('four-eyes-generated', {
    serviceEnv: { 'control-plane': { ...samlIdp.env(), SAML_SCOPES: 'management runtime', ...oauth } },
  });
  stack = started.stack;
  direct = started.directControlPlaneUrl;
  acs = `${direct}/saml/acs`;
  const boot = started.api;
  workspaceId = (await unwrap(boot.GET('/workspaces/current'))).id;
  const key = keyMaker(boot);
  const requester = await key('gen-requester', ['management', 'runtime']);
  api = clientOf(requester.key);
  by = api;
  planner = createManagementClient(stack.controlPlaneUrl, 'tp_planned', async (input, init) => {
    const request = new Request(input, init);
    const body = request.body ? ((await request.json()) as unknown) : undefined;
    planned!.push({ method: request.method, path: new URL(request.url).pathname.replace(/^.*\/api\/v1/, ''), body });
    return new Response(null, { status: 204 });
  });
  const second = await key('gen-approver', ['management']);
  ids.approver = second.id;
  approver = clientOf(second.key);
  ids.bystander = (await key('gen-bystander', ['management'])).id;
  ids.agent = (await key('gen-agent', ['runtime'])).id;
  ids.free = (await key('gen-free', ['runtime'])).id;
  ids.delegate = (await key('gen-delegate', ['runtime'])).id;
  example = await registerTicketExample(api, upstream.url, 'gen-key');
  await key('gen-limited', ['runtime'], [example.serverId]);
  await startRequesters(boot, workspaceId);
  await unwrap(policy({ name: 'gen-agent-lists', principals: agentOnly(), servers: ['*'], tools: ['search_tickets'] }));
  const reads = { name: 'gen-agent-reads', principals: agentOnly(), servers: ['*'], tools: ['get_ticket'] };
  await unwrap(policy({ ...reads, condition: 'args.ticket_id == "T-1"' }));
  const forPat = [
    { type: 'api_key', value: ids.delegate },
    { type: 'external_user', value: 'pat' },
  ];
  await unwrap(policy({ name: 'gen-pat', principals: forPat, servers: ['*'], tools: ['search_tickets'] }));
  await unwrap(
    api.POST('/quotas', {
      body: { name: 'gen-quota', match: { tools: ['get_ticket'] }, counts: 'calls', limit: 10, window: 'day' },
    }),
  );
  await unwrap(
    api.POST('/guardrails', {
      body: { name: 'gen-guard', detectors: [{ kind: 'secrets' }], action: 'block' } as never,
    }),
  );
  await unwrap(api.POST('/mcp_manager', { body: { name: 'gen-public-2' } }));
  await unwrap(settings([ids.approver, ids.minted!]));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await samlIdp?.close();
  await issuer?.close();
  await upstream?.close();
});

describe('four eyes, generated: held exactly when the effect widens someone’s access', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = await access();
    const sent = await plan(c);
    const who = c.by ?? 'key';
    // The permission decision: every other requester that may not send it is refused, and changes nothing.
    const tried = requesterKinds.filter((r) => r !== who && refusalOf(r, sent, before.roles) !== undefined);
    for (const r of tried) {
      const expected = refusalOf(r, sent, before.roles);
      const got = (await sendAs(r, c)).response.status;
      // A key of another workspace acts on its own (held there once a case turned its setting on), never a failure.
      const seen = expected === 'elsewhere' && got < 500 ? 'elsewhere' : got;
      expect({ requester: r, status: seen }).toEqual({ requester: r, status: expected });
    }
    if (tried.length > 0) expect(await access()).toEqual(before);
    const refusal = refusalOf(who, sent, before.roles);
    const answer = await sendAs(who, c);
    if (refusal !== undefined) {
      expect({ requester: who, status: answer.response.status }).toEqual({ requester: who, status: refusal });
      expect(await access()).toEqual(before);
      return;
    }
    const refused = answer.response.ok ? undefined : (answer as { error?: unknown }).error;
    expect({ status: answer.response.status, refused }).toEqual({ status: expect.any(Number), refused: undefined });
    const heldId = answer.response.status === 202 ? idOf(answer.data) : c.held?.(answer.data);
    if (heldId === undefined) {
      const after = await access();
      expect({ applied: true, widens: widening(before, after) }).toEqual({ applied: true, widens: [] });
      return;
    }
    // Held: nothing changed yet; no identity the requester controls decides it; another person applies it.
    expect(await access()).toEqual(before);
    const { controlled, other, person } = identitiesOf(who);
    for (const [identity, decider] of controlled)
      expect({ identity, status: await status(approve(decider, heldId)) }).toEqual({ identity, status: 403 });
    if (person !== undefined) {
      const link = await approver.POST('/change_requests/{id}/links', {
        params: { path: { id: heldId } },
        body: { person },
      });
      expect({ identity: 'a link for the same person', status: link.response.status }).toEqual({
        identity: 'a link for the same person',
        status: 403,
      });
    }
    expect(await access()).toEqual(before);
    expect((await approve(other, heldId)).state).toBe('applied');
    const after = await access();
    expect({ held: true, widens: widening(before, after).length > 0 }).toEqual({ held: true, widens: true });
  });

  it('a SCIM token whose creation waited: its value to the requester alone, working once approved', async () => {
    const held = await api.POST('/scim_token');
    expect(held.response.status).toBe(202);
    const { key, changeRequest } = held.data as unknown as { key: string; changeRequest: { id: string } };
    expect(key).toMatch(/^tpscim_/);
    // SCIM is outside the management API's document: straight to the control plane.
    const users = () => fetch(`${direct}/scim/v2/Users`, { headers: { authorization: `Bearer ${key}` } });
    expect((await users()).status).toBe(401);
    const applied = await approve(approver, changeRequest.id);
    expect(applied.state).toBe('applied');
    expect(JSON.stringify(applied)).not.toContain(key);
    expect((await users()).status).toBe(200);
  });

  it('refuses at once (422) what the handler would refuse, and holds nothing for an approval that could only fail', async () => {
    const pending = async () =>
      (await unwrap(api.GET('/change_requests', { params: { query: { state: 'pending' } } }))).data.length;
    const before = await pending();
    // A scope the requester lacks; a quota counting a tool no server exposes.
    const key = await api.POST('/api_keys', { body: { name: 'gen-audit', scopes: ['audit'] } });
    expect(key.response.status).toBe(422);
    const quota = await patchQuota({ match: { tools: ['no_such_tool'] }, limit: 1000 });
    expect(quota.response.status).toBe(422);
    expect(await pending()).toBe(before);
  });

  it('a curated connector’s upgrade that lowers an operation’s cost waits; its costs read back widen once approved', async () => {
    const stripe = curatedConnectors().find((c) => c.slug === 'stripe')!;
    const added = await api.POST('/connectors/curated/{slug}', { params: { path: { slug: 'stripe' } } });
    expect(added.response.status).toBe(201);
    const id = (await unwrap(api.GET('/connectors'))).data.find((c) => c.slug === 'stripe')!.id;
    // The workspace's copy as an older release had it: every operation dearer (a tightening: applied at once).
    const older = structuredClone(stripe.document) as Row & { document: { paths: Record<string, Row> } };
    older.version = '0.9.0';
    for (const item of Object.values(older.document.paths))
      for (const op of Object.values(item)) if (op && typeof op === 'object') (op as Row)['x-toolplane-cost'] = 5;
    const raised = await api.PUT('/connectors/{id}', { params: { path: { id } }, body: older as never });
    expect(raised.response.status).toBe(200);
    // The test's own reading of the costs: each operation's declared cost (none: 1).
    const costs = async () => {
      const doc = (await unwrap(api.GET('/connectors/{id}/openapi.json', { params: { path: { id } } }))) as unknown as {
        paths: Record<string, Record<string, Row>>;
      };
      return Object.values(doc.paths).flatMap((item) =>
        Object.values(item)
          .filter((op) => op && typeof op === 'object' && 'operationId' in op)
          .map((op) => (typeof op['x-toolplane-cost'] === 'number' ? op['x-toolplane-cost'] : 1)),
      );
    };
    const before = await costs();
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((c) => c === 5)).toBe(true);
    const upgrade = await api.POST('/connectors/curated/{slug}/upgrade', { params: { path: { slug: 'stripe' } } });
    expect(upgrade.response.status).toBe(202);
    const heldId = idOf(upgrade.data)!;
    expect(await costs()).toEqual(before);
    expect(await status(approve(api, heldId))).toBe(403);
    expect((await approve(approver, heldId)).state).toBe('applied');
    const after = await costs();
    expect(after.some((c) => c < 5)).toBe(true);
  });

  it('ran every case with an effect: each request changed what the API reads', () => {
    expect(cases.length).toBeGreaterThan(40);
  });
});
