import { randomUUID } from 'node:crypto';
import {
  recordCaller,
  redisKeys,
  WorkspaceAccess,
  type AccessPolicyRule,
  type Catalog,
  type PolicyPrincipal,
  type Principal,
  type RedisKeys,
  type ToolResultPayload,
} from '@toolplane/contracts';
import type { ExecutionRecordSink } from '@toolplane/queue';
import { currentTraceIds, recordDenied, recordToolCall } from '@toolplane/telemetry';
import type { Redis } from 'ioredis';
import { ToolConditions, visibleTools, type GrantPart, type ToolGrant } from './access-conditions.ts';
import type { LoadedCatalog } from './catalogs.ts';
import { readState, stateMessages, stateUnavailable } from './runtime-state.ts';
import { ToolSearch } from './smart-mode.ts';
import { TtlCache } from './ttl-cache.ts';

/**
 * Access policies on the edge (ADR 0013). Each workspace's policies come from Redis (published by
 * the control plane, cached here, dropped on the access channel), so a decision never touches the
 * database. Allow rules only: whatever no rule grants is denied, except that API keys no policy
 * names keep access to every server of their workspace (bounded by the key's `serverIds`).
 */
export class AccessPolicyCache {
  private readonly cache: TtlCache<WorkspaceAccess>;
  private readonly keys: RedisKeys;
  private readonly redis: Redis;
  private lastReport = 0;
  constructor(redis: Redis, prefix: string, limits: { ttlMs: number; max: number }) {
    this.redis = redis;
    this.cache = new TtlCache({ ttlMs: limits.ttlMs, max: limits.max });
    this.keys = redisKeys(prefix);
  }

  /** Tells the control plane that state is missing (it then republishes), at most once per 5 s per edge. */
  private reportMissing(workspaceId: string): void {
    if (Date.now() - this.lastReport < 5000) return;
    this.lastReport = Date.now();
    this.redis.publish(this.keys.stateMissing, workspaceId).catch(() => undefined);
  }

  invalidate(workspaceId: string | undefined): void {
    this.cache.invalidate(workspaceId);
  }

  /**
   * The workspace's policies. The control plane publishes a document for every workspace, even one
   * without policies, so a missing document means the state is missing (Redis lost it): that denies,
   * with a retryable `state.unavailable` error, and is not cached (never read as "no policies"), and the
   * control plane is told so that it republishes (a lost document alone leaves its marker in place).
   */
  get(workspaceId: string): Promise<WorkspaceAccess> {
    return this.cache.get(workspaceId, async () => {
      const raw = await readState(() => this.redis.get(this.keys.access(workspaceId)));
      if (!raw) {
        this.reportMissing(workspaceId);
        throw stateUnavailable(stateMessages.access);
      }
      return WorkspaceAccess.parse(JSON.parse(raw));
    });
  }
}

/** Who is calling, as far as access is concerned. */
export interface CallerIdentity {
  keyId?: string | undefined;
  /** The key's server restriction (absent: every server of the workspace). */
  keyServerIds?: string[] | undefined;
  subject?: string | undefined;
  groups?: string[] | undefined;
  /** A public server's unauthenticated caller. */
  anonymous?: boolean | undefined;
  username?: string | undefined;
  /** The OAuth token itself names `username` (its user claim): the caller is that user, not acting for them. */
  selfUser?: boolean | undefined;
}

export type AccessDecision =
  | {
      allowed: true;
      grant: ToolGrant;
      who: string;
      /** With an external user: why the caller may act as them (a policy id, `unnamed-key` or `token-user`). */
      actingVia?: string;
      /** Grants with a condition that apply (absent: none; every visible tool may be called as it is). */
      conditions?: ToolConditions;
    }
  | { allowed: false; who: string; reason: string };

/**
 * Who may act as an external user (`x-username`; ADR 0013 amendment): never an anonymous
 * caller; an API key no policy names (the workspace's own credential) for any user of its workspace
 * (`unnamed-key`, decided by `decideAccess` before this);
 * an OAuth token whose user claim names the user (it is that user); otherwise only a principal that
 * one policy names **together with** that user (or `external_user: "*"`) for this server. Returns the
 * reason it may (a policy id or `token-user`) or null.
 */
function impersonation(
  policies: AccessPolicyRule[],
  id: CallerIdentity,
  matchesCaller: (p: PolicyPrincipal) => boolean,
  serverId: string,
): string | null {
  if (id.anonymous || id.username === undefined) return null;
  if (!id.keyId && id.selfUser) return 'token-user';
  for (const policy of policies) {
    if (!policy.servers.includes('*') && !policy.servers.includes(serverId)) continue;
    if (!policy.principals.some(matchesCaller)) continue;
    if (policy.principals.some((x) => x.type === 'external_user' && (x.value === '*' || x.value === id.username)))
      return policy.id;
  }
  return null;
}

function grantOf(
  policies: AccessPolicyRule[],
  matches: (p: PolicyPrincipal) => boolean,
  serverId: string,
): GrantPart | null {
  let any = false;
  const tools = new Set<string>();
  let rules: Map<string, AccessPolicyRule[]> | undefined;
  for (const policy of policies) {
    if (!policy.principals.some(matches)) continue;
    if (!policy.servers.includes('*') && !policy.servers.includes(serverId)) continue;
    if (policy.condition !== undefined) {
      // Kept apart: such a grant applies to a call only when its condition holds (access-conditions.ts).
      rules ??= new Map();
      for (const t of policy.tools) rules.set(t, [...(rules.get(t) ?? []), policy]);
      continue;
    }
    if (policy.tools.includes('*')) return ALL;
    any = true;
    for (const t of policy.tools) tools.add(t);
  }
  if (!any && !rules) return null;
  return rules ? { unconditional: tools, rules } : { unconditional: tools };
}

const ALL: GrantPart = { unconditional: 'all' };

function intersect(a: ToolGrant, b: ToolGrant): ToolGrant {
  if (a === 'all') return b;
  if (b === 'all') return a;
  return new Set([...a].filter((t) => b.has(t)));
}

function describeCaller(id: CallerIdentity): string {
  const parts = [
    id.keyId
      ? `API key ${id.keyId}`
      : id.subject
        ? `OAuth subject "${id.subject}"${id.groups?.length ? ` (groups: ${id.groups.join(', ')})` : ''}`
        : 'anonymous caller',
    ...(id.username !== undefined ? [`external user "${id.username}"`] : []),
  ];
  return parts.join(' for ');
}

/** The credential's grant on the server (a key no policy names and a public server's anonymous caller: all). */
function credentialGrant(
  policies: AccessPolicyRule[],
  id: CallerIdentity,
  serverId: string,
): { part: GrantPart | null; actingVia: string | null } {
  if (id.keyId) {
    const isKey = (x: PolicyPrincipal) => x.type === 'api_key' && x.value === id.keyId;
    const named = policies.some((p) => p.principals.some(isKey));
    // A key no policy names is the workspace's own credential: it may act as any user of its workspace.
    const actingVia = named
      ? impersonation(policies, id, isKey, serverId)
      : id.username === undefined
        ? null
        : 'unnamed-key';
    return { part: named ? grantOf(policies, isKey, serverId) : ALL, actingVia };
  }
  if (id.subject !== undefined && !id.anonymous) {
    const groups = new Set(id.groups ?? []);
    const isToken = (x: PolicyPrincipal) =>
      (x.type === 'oauth_subject' && (x.value === '*' || x.value === id.subject)) ||
      (x.type === 'oauth_group' && (x.value === '*' ? groups.size > 0 : groups.has(x.value)));
    return { part: grantOf(policies, isToken, serverId), actingVia: impersonation(policies, id, isToken, serverId) };
  }
  // isPublic: anyone may use the server's tools, with the server's shared credentials only.
  return { part: ALL, actingVia: null };
}

/** An allowed decision: the tools visible to both parts; conditions only when a conditional grant applies. */
function allowed(who: string, part: GrantPart, userPart?: GrantPart): AccessDecision & { allowed: true } {
  const grant = userPart ? intersect(visibleTools(part), visibleTools(userPart)) : visibleTools(part);
  if (!part.rules && !userPart?.rules) return { allowed: true, grant, who };
  const conditional = [part, ...(userPart ? [userPart] : [])].filter((p) => p.rules);
  return { allowed: true, grant, who, conditions: new ToolConditions(conditional) };
}

/**
 * The decision for one caller on one server. The caller's credential (key, token or public access)
 * and, with `x-username`, the external user must both be granted; the tools are the intersection.
 * Grants with a condition make tools visible and leave `conditions` for the call to meet.
 */
export function decideAccess(access: WorkspaceAccess, id: CallerIdentity, serverId: string): AccessDecision {
  const who = describeCaller(id);
  const { policies } = access;
  if (id.username !== undefined && (id.anonymous || (!id.keyId && id.subject === undefined)))
    return {
      allowed: false,
      who,
      reason:
        `Access denied: an anonymous caller may not act as external user "${id.username}" (x-username). ` +
        'Authenticate with an API key or OAuth token that an access policy lets act as this user.',
    };
  if (id.keyId && id.keyServerIds && !id.keyServerIds.includes(serverId))
    return {
      allowed: false,
      who,
      reason: `This API key is limited to other MCP servers (${id.keyServerIds.join(', ')}).`,
    };
  const { part, actingVia } = credentialGrant(policies, id, serverId);
  if (!part)
    return {
      allowed: false,
      who,
      reason: `Access denied: no access policy grants ${who} access to MCP server ${serverId}.`,
    };
  if (id.username === undefined) return allowed(who, part);
  if (!actingVia)
    return {
      allowed: false,
      who,
      reason:
        `Access denied: ${describeCaller({ ...id, username: undefined })} may not act as external user ` +
        `"${id.username}" (x-username) on MCP server ${serverId}: no access policy names both ` +
        '(add the user, or external_user "*", to a policy naming this caller).',
    };
  const userPart = grantOf(
    policies,
    (x) => x.type === 'external_user' && (x.value === '*' || x.value === id.username),
    serverId,
  );
  if (!userPart)
    return {
      allowed: false,
      who,
      reason: `Access denied: no access policy grants external user "${id.username}" access to MCP server ${serverId}.`,
    };
  return { ...allowed(who, part, userPart), actingVia };
}

const views = new WeakMap<LoadedCatalog, Map<string, LoadedCatalog>>();

/**
 * The catalog as this caller may see it: `tools/list`, SMART search and connections show allowed
 * tools only, and `restriction` lets `tools/call` tell a denied tool from an unknown one. Views are
 * cached per catalog version and grant; a full grant returns the catalog itself (no cost).
 */
export function restrictCatalog(loaded: LoadedCatalog, grant: ToolGrant, who: string): LoadedCatalog {
  if (grant === 'all') return loaded;
  const cacheKey = `${who}\u0000${[...grant].sort().join('\u0000')}`;
  let byGrant = views.get(loaded);
  const hit = byGrant?.get(cacheKey);
  if (hit) return hit;
  const tools = new Map([...loaded.tools].filter(([name]) => grant.has(name)));
  const catalogTools = loaded.catalog.tools.filter((t) => grant.has(t.tool.name));
  const smart = loaded.catalog.mode === 'SMART';
  const view: LoadedCatalog = {
    ...loaded,
    catalog: { ...loaded.catalog, tools: catalogTools },
    tools,
    list: smart ? loaded.list : loaded.list.filter((t) => grant.has(t.name)),
    ...(smart ? { search: new ToolSearch(catalogTools) } : {}),
    restriction: { hidden: (name: string) => loaded.tools.has(name) && !tools.has(name), who },
  };
  if (!byGrant) views.set(loaded, (byGrant = new Map()));
  if (byGrant.size > 1000) byGrant.clear();
  byGrant.set(cacheKey, view);
  return view;
}

/**
 * For a tool hidden from this caller: the `isError` result saying so (and, unless `record` is false,
 * an execution record of the refusal). Undefined when the name is not a denied tool.
 */
export function deniedToolCall(
  records: Pick<ExecutionRecordSink, 'add'>,
  call: { readonly loaded: LoadedCatalog; readonly principal: Principal },
  name: string,
  record = true,
): ToolResultPayload | undefined {
  const { loaded } = call;
  const restriction = loaded.restriction;
  if (!restriction?.hidden(name)) return undefined;
  const message = `Access denied: ${restriction.who} may not use tool "${name}" on this MCP server (no access policy grants it).`;
  if (record) {
    recordDenied('policy');
    recordToolCall(loaded.catalog.serverId, name, 'rejected', 0);
    writeDenial(records, call.principal, { catalog: loaded.catalog, tool: name, message });
  }
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** An execution record for a call refused by access control (outcome `rejected`, code `access.denied`). */
export function writeDenial(
  records: Pick<ExecutionRecordSink, 'add'>,
  principal: Principal,
  denial: { catalog: Pick<Catalog, 'serverId' | 'version'>; tool: string; message: string },
): void {
  records.add({
    v: 1,
    invocationId: randomUUID(),
    workspaceId: principal.workspaceId,
    serverId: denial.catalog.serverId,
    catalogVersion: denial.catalog.version,
    tool: denial.tool,
    caller: recordCaller(principal),
    startedAt: new Date().toISOString(),
    durationMs: 0,
    outcome: 'rejected',
    errorCode: 'access.denied',
    message: denial.message,
    steps: [],
    ...currentTraceIds(),
  });
}
