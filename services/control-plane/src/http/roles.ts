import { AuthError } from '@toolplane/errors';

/**
 * Roles of the people signed in to the management API (docs/governance.md "People and roles", ADR 0053): what each
 * role may do, as one table over the operations' areas. A person's operation needs both the scope its table entry
 * names (the token's, as for an API key) and a role that reaches the operation's area; API keys have no roles.
 */

export const roleNames = ['viewer', 'operator', 'admin', 'auditor', 'approver'] as const;
export type Role = (typeof roleNames)[number];

/** What the management API is about, by area: every operation is in exactly one (`areaOf`). */
export const areaNames = [
  'session',
  'workspaces',
  'roles',
  'keys',
  'policies',
  'approvals',
  'servers',
  'connectors',
  'debug_sessions',
  'secrets',
  'people',
  'records',
  'usage',
  'trail',
  'workspace_files',
] as const;
export type Area = (typeof areaNames)[number];

/**
 * The area of an operation, by its documented path: the first pattern that matches. A path no pattern matches is in
 * no area, which only an admin reaches (operation-tables.test.ts checks every operation has one).
 */
const areasByPath: readonly (readonly [RegExp, Area])[] = [
  [/^\/(sign_ins|workspaces\/current)$/, 'session'],
  [/^\/workspaces$/, 'workspaces'],
  [/^\/role_mappings$/, 'roles'],
  [/^\/api_keys(\/|$)/, 'keys'],
  [/^\/quotas\/\{id\}\/usage$/, 'usage'],
  [/^\/(access_policies|quotas|guardrails|session_settings|change_approvals)(\/|$)/, 'policies'],
  // Trying a rule on past calls (ADR 0080): a policy editor's tool.
  [/^\/governance\/backtest$/, 'policies'],
  [/^\/governance\/reachability$/, 'policies'],
  // One session's labels and their origins (ADR 0078): read as the trail is, ended by an admin.
  [/^\/sessions\/\{scope\}$/, 'trail'],
  [/^\/(approvals|change_requests|task_grants)(\/|$)/, 'approvals'],
  [/^\/(secrets|mcp_servers\/\{id\}\/secrets|external_users\/\{name\}\/secrets)(\/|$)/, 'secrets'],
  [/^\/mcp_manager\/\{id\}\/debug_sessions(\/|$)/, 'debug_sessions'],
  [/^\/(mcp_manager|mcp_servers|external_mcp_servers|registry)(\/|$)/, 'servers'],
  [/^\/(connectors|connector_instances|api_catalog)(\/|$)/, 'connectors'],
  [/^\/(external_users|scim_token|enterprise_idps)(\/|$)/, 'people'],
  [/^\/execution_records(\/|$)/, 'records'],
  // MCP Events subscriptions and their deliveries (ADR 0081): read as the records are.
  [/^\/event_subscriptions(\/|$)/, 'records'],
  [/^\/(stats|usage)$/, 'usage'],
  [/^\/audit_events$/, 'trail'],
  // Least privilege proposed from use (who called what, with which findings): read as the trail is.
  [/^\/least_privilege(\/|$)/, 'trail'],
  [/^\/audit_exporters(\/|$)/, 'trail'],
  [/^\/workspace_files(\/|$)/, 'workspace_files'],
];

export function areaOf(path: string): Area | undefined {
  return areasByPath.find(([pattern]) => pattern.test(path))?.[1];
}

const everything = areaNames.filter((a) => a !== 'session');
/** What a viewer reads: everything but secrets' metadata, the trail and the workspace's files (they name secrets). */
const viewed = everything.filter((a) => a !== 'secrets' && a !== 'trail' && a !== 'workspace_files');

/**
 * The role table: the areas each role reads (GET) and changes (any other method). Every role has the session (signing
 * in, its own workspace and powers); several roles add up.
 */
const roleTable: Readonly<Record<Role, { read: readonly Area[]; write: readonly Area[] }>> = {
  viewer: { read: viewed, write: [] },
  operator: { read: [...viewed, 'secrets'], write: ['servers', 'connectors', 'debug_sessions'] },
  admin: { read: everything, write: everything },
  auditor: { read: ['trail', 'usage'], write: [] },
  approver: { read: ['approvals'], write: ['approvals'] },
};

export type AreaAccess = 'none' | 'read' | 'write';

/** What `roles` together allow in `area`. */
export function accessOf(roles: readonly Role[], area: Area | undefined): AreaAccess {
  if (roles.length === 0) return 'none';
  if (area === 'session') return 'write';
  if (area === undefined) return roles.includes('admin') ? 'write' : 'none';
  if (roles.some((r) => roleTable[r].write.includes(area))) return 'write';
  return roles.some((r) => roleTable[r].read.includes(area)) ? 'read' : 'none';
}

/**
 * What an API key's scopes reach in `area` (keys have no roles): `management` changes every area but the trail, which
 * needs `audit` as well to be changed and `audit` alone to be read; `approve` (implied by `management`) decides
 * approvals. What `GET /workspaces/current` tells the dashboard, so that a key sees only the pages it may open.
 */
export function keyAccessOf(scopes: readonly string[], area: Area): AreaAccess {
  const management = scopes.includes('management');
  if (area === 'session') return 'write';
  if (area === 'approvals') return management || scopes.includes('approve') ? 'write' : 'none';
  if (area === 'trail') {
    if (!scopes.includes('audit')) return 'none';
    return management ? 'write' : 'read';
  }
  return management ? 'write' : 'none';
}

/** Whether `roles` allow the operation `method path` (a GET reads its area, any other method changes it). */
export function rolesAllow(roles: readonly Role[], method: string, path: string): boolean {
  const access = accessOf(roles, areaOf(path));
  return method.toLowerCase() === 'get' ? access !== 'none' : access === 'write';
}

/** 403 unless a person's roles allow the operation; API keys (no roles: undefined) are not concerned. */
export function requireRole(roles: readonly Role[] | undefined, route: { method: string; path: string }): void {
  if (roles === undefined || rolesAllow(roles, route.method, route.path)) return;
  const held = roles.length === 0 ? 'no role in this workspace' : `the roles ${roles.join(', ')}`;
  const reads = route.method.toLowerCase() === 'get';
  throw new AuthError(
    'auth.forbidden',
    `this access token's person has ${held}: ${route.method.toUpperCase()} ${route.path} needs a role that ` +
      `${reads ? 'reads' : 'changes'} ${areaOf(route.path) ?? 'what only an admin changes'}`,
  );
}

/** One assignment of a workspace's role mapping: a subject's or a group's roles. */
export type RoleAssignment = ({ subject: string } | { group: string }) & { roles: Role[] };

export interface RoleMappingSettings {
  /** The token claim listing a person's groups; null: the control plane's OAUTH_GROUPS_CLAIM. */
  groupsClaim: string | null;
  assignments: RoleAssignment[];
}

/** A groups claim as names: an array of strings, or one space-separated string; anything else names none. */
export function groupsOf(claim: unknown): string[] {
  if (typeof claim === 'string') return claim.split(/\s+/).filter(Boolean);
  return Array.isArray(claim) ? claim.filter((g): g is string => typeof g === 'string' && g !== '') : [];
}

/**
 * A person's roles in a workspace: every role assigned to their subject or to one of their groups (read from the
 * mapping's claim, else `defaultGroupsClaim`, and the SCIM groups the identity provider put them in), in the table's
 * order. A workspace without a mapping makes everyone
 * signed in to it an admin, as before roles existed.
 */
export function rolesOf(
  mapping: RoleMappingSettings | null,
  person: { subject: string; claims: Record<string, unknown>; scimGroups?: readonly string[] },
  defaultGroupsClaim: string,
): Role[] {
  if (!mapping) return ['admin'];
  const claimed = groupsOf(person.claims[mapping.groupsClaim ?? defaultGroupsClaim]);
  const groups = new Set([...claimed, ...(person.scimGroups ?? [])]);
  const held = new Set<Role>();
  for (const a of mapping.assignments) {
    const applies = 'subject' in a ? a.subject === person.subject : groups.has(a.group);
    if (applies) for (const r of a.roles) held.add(r);
  }
  return roleNames.filter((r) => held.has(r));
}
