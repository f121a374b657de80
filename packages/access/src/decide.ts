import type { AccessPolicyRule, PolicyPrincipal, WorkspaceAccess } from '@toolplane/contracts';
import { ToolConditions, visibleTools, type GrantPart, type ToolGrant } from './grants.ts';

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

/** Whether a principal of a policy names something: the caller's credential, or the external user. */
export type PrincipalMatcher = (p: PolicyPrincipal) => boolean;

/** Whether the policy grants on this server (`*`: every server). */
export function coversServer(policy: AccessPolicyRule, serverId: string): boolean {
  return policy.servers.includes('*') || policy.servers.includes(serverId);
}

/** The principals that are this API key. */
function keyMatcher(keyId: string): PrincipalMatcher {
  return (x) => x.type === 'api_key' && x.value === keyId;
}

/** The principals an OAuth token matches: its subject, one of its groups, or `*` (any group: a token with one). */
function tokenMatcher(subject: string, groups: ReadonlySet<string>): PrincipalMatcher {
  return (x) =>
    (x.type === 'oauth_subject' && (x.value === '*' || x.value === subject)) ||
    (x.type === 'oauth_group' && (x.value === '*' ? groups.size > 0 : groups.has(x.value)));
}

/**
 * The principals that are this external user (`*`: any), and the SCIM groups they are a member of (`groups`: each
 * group a policy names → its active members' names, as published; `*`: a member of any group).
 */
export function userMatcher(username: string, groups?: WorkspaceAccess['groups']): PrincipalMatcher {
  return (x) =>
    (x.type === 'external_user' && (x.value === '*' || x.value === username)) ||
    (x.type === 'external_group' &&
      groups !== undefined &&
      (x.value === '*'
        ? Object.values(groups).some((members) => members.includes(username))
        : (groups[x.value]?.includes(username) ?? false)));
}

/** The principals that are the caller's credential (a key or a token); undefined for an anonymous caller. */
export function credentialMatcher(id: CallerIdentity): PrincipalMatcher | undefined {
  if (id.keyId) return keyMatcher(id.keyId);
  if (id.subject !== undefined && !id.anonymous) return tokenMatcher(id.subject, new Set(id.groups ?? []));
  return undefined;
}

/**
 * Who may act as an external user (`x-username`; ADR 0013 amendment): never an anonymous
 * caller; an API key no policy names (the workspace's own credential) for any user of its workspace
 * (`unnamed-key`, decided by `decideAccess` before this);
 * an OAuth token whose user claim names the user (it is that user); otherwise only a principal that
 * one policy names **together with** that user (or `external_user: "*"`) for this server. Returns the
 * reason it may (a policy id or `token-user`) or null.
 */
function impersonation(
  { policies, groups }: WorkspaceAccess,
  id: CallerIdentity,
  matchesCaller: PrincipalMatcher,
  serverId: string,
): string | null {
  if (id.anonymous || id.username === undefined) return null;
  if (!id.keyId && id.selfUser) return 'token-user';
  const isUser = userMatcher(id.username, groups);
  for (const policy of policies) {
    if (!coversServer(policy, serverId)) continue;
    if (!policy.principals.some(matchesCaller)) continue;
    if (policy.principals.some(isUser)) return policy.id;
  }
  return null;
}

function grantOf(policies: AccessPolicyRule[], matches: PrincipalMatcher, serverId: string): GrantPart | null {
  let any = false;
  const tools = new Set<string>();
  let rules: Map<string, AccessPolicyRule[]> | undefined;
  for (const policy of policies) {
    if (!policy.principals.some(matches)) continue;
    if (!coversServer(policy, serverId)) continue;
    if (policy.condition !== undefined) {
      // Kept apart: such a grant applies to a call only when its condition holds (call-conditions.ts).
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

/** The caller in refusals: `API key k`, `OAuth subject "s" (groups: …)`, `anonymous caller`, and the external user. */
export function describeCaller(id: CallerIdentity): string {
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

/** Whether some policy names what `matches` (an API key none names is the workspace's own credential: every tool). */
export function namedByAny(policies: readonly AccessPolicyRule[], matches: PrincipalMatcher): boolean {
  return policies.some((p) => p.principals.some(matches));
}

/** The credential's grant on the server (a key no policy names and a public server's anonymous caller: all). */
function credentialGrant(
  access: WorkspaceAccess,
  id: CallerIdentity,
  serverId: string,
): { part: GrantPart | null; actingVia: string | null } {
  const { policies } = access;
  const matches = credentialMatcher(id);
  if (id.keyId && matches) {
    const named = namedByAny(policies, matches);
    // A key no policy names is the workspace's own credential: it may act as any user of its workspace.
    const actingVia = named
      ? impersonation(access, id, matches, serverId)
      : id.username === undefined
        ? null
        : 'unnamed-key';
    return { part: named ? grantOf(policies, matches, serverId) : ALL, actingVia };
  }
  if (matches)
    return { part: grantOf(policies, matches, serverId), actingVia: impersonation(access, id, matches, serverId) };
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
 * The decision for one caller on one server (ADR 0013), as the edge makes it for every request. The caller's
 * credential (key, token or public access) and, with `x-username`, the external user must both be granted; the
 * tools are the intersection. Grants with a condition make tools visible and leave `conditions` for the call to meet.
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
  const { part, actingVia } = credentialGrant(access, id, serverId);
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
  const userPart = grantOf(policies, userMatcher(id.username, access.groups), serverId);
  if (!userPart)
    return {
      allowed: false,
      who,
      reason: `Access denied: no access policy grants external user "${id.username}" access to MCP server ${serverId}.`,
    };
  return { ...allowed(who, part, userPart), actingVia };
}

/** The refusal of a call of a tool the caller's grant hides (the edge's `tools/call` of a tool not in its view). */
export function hiddenToolRefusal(who: string, tool: string): string {
  return `Access denied: ${who} may not use tool "${tool}" on this MCP server (no access policy grants it).`;
}
