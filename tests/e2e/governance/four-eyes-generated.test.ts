import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { curatedConnectors } from '@toolplane/connectors';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
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
const ids: Record<string, string> = {};

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

type Answer = Promise<{ data?: unknown; response: Response }>;

interface Case {
  name: string;
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

const policy = (body: Row): Answer => api.POST('/access_policies', { body: body as never });
const patchPolicy = async (name: string, body: Row): Answer =>
  api.PATCH('/access_policies/{id}', {
    params: { path: { id: await byName('/access_policies', name) } },
    body: body as never,
  });
const patchQuota = async (body: Row): Answer =>
  api.PATCH('/quotas/{id}', { params: { path: { id: await byName('/quotas', 'gen-quota') } }, body: body as never });
const settings = (apiKeys: string[]): Answer =>
  api.PUT('/change_approvals/settings', {
    body: { enabled: true, approvers: { apiKeys }, approvals: 1, expiresInSeconds: 3600 },
  });

/** Workspace-file apply of the exported files as `edit` changes them (session.yaml kept, unmanaged). */
async function applyFiles(edit: (files: { path: string; content: string }[]) => { path: string; content: string }[]) {
  const { files } = await unwrap(api.GET('/workspace_files'));
  return api.POST('/workspace_files/apply', { body: { files: edit(files.filter((f) => f.path !== 'session.yaml')) } });
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
      api.DELETE('/access_policies/{id}', {
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
      api.DELETE('/access_policies/{id}', { params: { path: { id: await byName('/access_policies', 'gen-free') } } }),
  },
  // API keys.
  { name: 'key created', send: () => api.POST('/api_keys', { body: { name: 'gen-new', scopes: ['runtime'] } }) },
  {
    name: 'key’s server restriction lifted',
    send: async () =>
      api.PATCH('/api_keys/{id}', { params: { path: { id: await keyId('gen-limited') } }, body: { serverIds: null } }),
  },
  {
    name: 'key limited to a server',
    send: async () =>
      api.PATCH('/api_keys/{id}', {
        params: { path: { id: await keyId('gen-limited') } },
        body: { serverIds: [example.serverId] },
      }),
  },
  {
    name: 'key renamed',
    send: async () =>
      api.PATCH('/api_keys/{id}', {
        params: { path: { id: await keyId('gen-limited') } },
        body: { name: 'gen-limited-renamed' },
      }),
  },
  {
    name: 'key deleted',
    send: async () => api.DELETE('/api_keys/{id}', { params: { path: { id: await keyId('gen-new') } } }),
  },
  // Servers.
  { name: 'server created private', send: () => api.POST('/mcp_manager', { body: { name: 'gen-private' } }) },
  {
    name: 'server made public',
    send: async () =>
      api.PATCH('/mcp_manager/{id}', {
        params: { path: { id: await serverId('gen-private') } },
        body: { isPublic: true },
      }),
  },
  {
    name: 'server’s description changed',
    send: async () =>
      api.PATCH('/mcp_manager/{id}', {
        params: { path: { id: await serverId('gen-private') } },
        body: { description: 'described' },
      }),
  },
  {
    name: 'server created public',
    send: () => api.POST('/mcp_manager', { body: { name: 'gen-public', isPublic: true } }),
  },
  {
    name: 'server deleted',
    send: async () => api.DELETE('/mcp_manager/{id}', { params: { path: { id: await serverId('gen-private') } } }),
  },
  // Quotas.
  {
    name: 'quota created',
    send: () =>
      api.POST('/quotas', {
        body: { name: 'gen-quota-2', match: { tools: ['search_tickets'] }, counts: 'calls', limit: 100, window: 'day' },
      }),
  },
  { name: 'quota raised', send: () => patchQuota({ limit: 20 }) },
  { name: 'quota lowered', send: () => patchQuota({ limit: 5 }) },
  { name: 'quota counting other tools', send: () => patchQuota({ match: { tools: ['search_tickets'] } }) },
  { name: 'quota turned to log only', send: () => patchQuota({ enforce: false }) },
  {
    name: 'quota deleted',
    send: async () => api.DELETE('/quotas/{id}', { params: { path: { id: await byName('/quotas', 'gen-quota-2') } } }),
  },
  // Guardrails.
  {
    name: 'guardrail created',
    send: () =>
      api.POST('/guardrails', {
        body: { name: 'gen-guard-2', detectors: [{ kind: 'secrets' }], action: 'redact' } as never,
      }),
  },
  {
    name: 'guardrail made to block',
    send: async () =>
      api.PATCH('/guardrails/{id}', {
        params: { path: { id: await byName('/guardrails', 'gen-guard-2') } },
        body: { action: 'block' } as never,
      }),
  },
  {
    name: 'guardrail made to flag only',
    send: async () =>
      api.PATCH('/guardrails/{id}', {
        params: { path: { id: await byName('/guardrails', 'gen-guard') } },
        body: { action: 'flag' } as never,
      }),
  },
  {
    name: 'guardrail deleted',
    send: async () =>
      api.DELETE('/guardrails/{id}', { params: { path: { id: await byName('/guardrails', 'gen-guard-2') } } }),
  },
  // Role mappings.
  {
    name: 'first role mapping (everyone signed in was an admin)',
    send: () =>
      api.PUT('/role_mappings', { body: { groupsClaim: null, assignments: [{ subject: 'ada', roles: ['admin'] }] } }),
  },
  {
    name: 'role given',
    send: () =>
      api.PUT('/role_mappings', {
        body: {
          groupsClaim: null,
          assignments: [
            { subject: 'ada', roles: ['admin'] },
            { subject: 'mallory', roles: ['admin'] },
          ],
        },
      }),
  },
  {
    name: 'role taken',
    send: () =>
      api.PUT('/role_mappings', { body: { groupsClaim: null, assignments: [{ subject: 'ada', roles: ['admin'] }] } }),
  },
  { name: 'role mapping removed', send: () => api.DELETE('/role_mappings') },
  // External servers.
  {
    name: 'external server registered',
    send: () => api.POST('/external_mcp_servers', { body: { name: 'gen-ext', url: 'http://127.0.0.1:9/mcp' } }),
  },
  {
    name: 'external server registered with autoAccept',
    send: () =>
      api.POST('/external_mcp_servers', {
        body: { name: 'gen-ext-auto', url: 'http://127.0.0.1:9/mcp', autoAccept: true },
      }),
  },
  {
    name: 'external server’s autoAccept on',
    send: async () =>
      api.PATCH('/external_mcp_servers/{id}', {
        params: { path: { id: await byName('/external_mcp_servers', 'gen-ext') } },
        body: { autoAccept: true },
      }),
  },
  {
    name: 'external server’s autoAccept off',
    send: async () =>
      api.PATCH('/external_mcp_servers/{id}', {
        params: { path: { id: await byName('/external_mcp_servers', 'gen-ext') } },
        body: { autoAccept: false },
      }),
  },
  {
    name: 'external server deleted',
    send: async () =>
      api.DELETE('/external_mcp_servers/{id}', {
        params: { path: { id: await byName('/external_mcp_servers', 'gen-ext') } },
      }),
  },
  // Enterprise IdPs.
  { name: 'enterprise IdP added', send: () => api.POST('/enterprise_idps', { body: idp }) },
  {
    name: 'enterprise IdP’s keys changed',
    send: async () =>
      api.PATCH('/enterprise_idps/{id}', {
        params: { path: { id: await idpId('gen-idp') } },
        body: { jwksUrl: 'https://elsewhere.gen.example/jwks' },
      }),
  },
  {
    name: 'enterprise IdP removed',
    send: async () => api.DELETE('/enterprise_idps/{id}', { params: { path: { id: await idpId('gen-idp') } } }),
  },
  // Who decides.
  { name: 'approver added', send: () => settings([ids.approver!, ids.minted!, ids.bystander!]) },
  { name: 'approver removed', send: () => settings([ids.approver!, ids.minted!]) },
  // People: a person a policy names reaches what it grants; one named by none reaches nothing.
  { name: 'person added that a policy names', send: () => api.POST('/external_users', { body: { name: 'pat' } }) },
  { name: 'person added that no policy names', send: () => api.POST('/external_users', { body: { name: 'quinn' } }) },
  {
    name: 'person removed',
    send: () => api.DELETE('/external_users/{name}', { params: { path: { name: 'pat' } } }),
  },
  // The directory's credential.
  { name: 'SCIM token created', send: () => api.POST('/scim_token') },
  { name: 'SCIM token deleted', send: () => api.DELETE('/scim_token') },
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
      return api.POST('/workspace_files/apply', { body: { files: kept, prune: true } });
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

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'gen-key' });
  const started = await startTestStack('four-eyes-generated');
  stack = started.stack;
  direct = started.directControlPlaneUrl;
  const boot = started.api;
  const key = (name: string, scopes: ('management' | 'runtime' | 'approve')[], serverIds?: string[]) =>
    unwrap(boot.POST('/api_keys', { body: { name, scopes, ...(serverIds ? { serverIds } : {}) } }));
  const requester = await key('gen-requester', ['management', 'runtime']);
  api = createManagementClient(stack.controlPlaneUrl, requester.key);
  const second = await key('gen-approver', ['management']);
  ids.approver = second.id;
  approver = createManagementClient(stack.controlPlaneUrl, second.key);
  ids.bystander = (await key('gen-bystander', ['management'])).id;
  ids.agent = (await key('gen-agent', ['runtime'])).id;
  ids.free = (await key('gen-free', ['runtime'])).id;
  ids.delegate = (await key('gen-delegate', ['runtime'])).id;
  example = await registerTicketExample(api, upstream.url, 'gen-key');
  await key('gen-limited', ['runtime'], [example.serverId]);
  const mine = await unwrap(api.POST('/api_keys', { body: { name: 'gen-minted', scopes: ['management', 'approve'] } }));
  ids.minted = mine.id;
  minted = createManagementClient(stack.controlPlaneUrl, mine.key);
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
  await unwrap(settings([ids.approver, ids.minted]));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

describe('four eyes, generated: held exactly when the effect widens someone’s access', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = await access();
    const answer = await c.send();
    const refused = answer.response.ok ? undefined : (answer as { error?: unknown }).error;
    expect({ status: answer.response.status, refused }).toEqual({ status: expect.any(Number), refused: undefined });
    const heldId = answer.response.status === 202 ? idOf(answer.data) : c.held?.(answer.data);
    if (heldId === undefined) {
      const after = await access();
      expect({ applied: true, widens: widening(before, after) }).toEqual({ applied: true, widens: [] });
      return;
    }
    // Held: nothing changed yet; neither the requester nor a key it minted decides it; another approver applies it.
    expect(await access()).toEqual(before);
    expect(await status(approve(api, heldId))).toBe(403);
    expect(await status(approve(minted, heldId))).toBe(403);
    expect(await access()).toEqual(before);
    expect((await approve(approver, heldId)).state).toBe('applied');
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
