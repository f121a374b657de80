import type { CallerIdentity } from '@toolplane/access';
import type { WorkspaceAccess } from '@toolplane/contracts';

/**
 * Who a reachability answer is about. An API key calls alone (its id and name as the edge knows them); a person acts
 * through a key with `x-username`: the key given, else the workspace's own credential (a key no policy names), whose
 * id and name conditions then cannot be known.
 */
export type ReachPrincipal =
  | { readonly type: 'api_key'; readonly keyId: string; readonly keyName?: string | undefined }
  | {
      readonly type: 'person';
      readonly username: string;
      readonly keyId?: string | undefined;
      readonly keyName?: string | undefined;
    };

/** What a query may ask about: one key, one person, or the members of one group (its people). */
export type PrincipalFilter =
  | { readonly type: 'api_key'; readonly keyId: string }
  | { readonly type: 'person'; readonly username: string }
  | { readonly type: 'group'; readonly name: string };

/** The id of the workspace's own credential in a person's identity: no policy can name it (not a key id's form). */
const WORKSPACE_KEY = ' workspace key ';

/** The principals the access document names: its keys, its people and the members of its groups (sorted). */
function principalsOf(access: WorkspaceAccess, keyNames: Readonly<Record<string, string>> = {}): ReachPrincipal[] {
  const keys = new Set<string>();
  const people = new Set<string>();
  for (const policy of access.policies)
    for (const p of policy.principals) {
      if (p.type === 'api_key' && p.value !== '*') keys.add(p.value);
      if (p.type === 'external_user' && p.value !== '*') people.add(p.value);
    }
  for (const members of Object.values(access.groups ?? {})) for (const m of members) people.add(m);
  return [
    ...[...keys].sort().map((keyId): ReachPrincipal => ({ type: 'api_key', keyId, keyName: keyNames[keyId] })),
    ...[...people].sort().map((username): ReachPrincipal => ({ type: 'person', username })),
  ];
}

/** The principals a filter selects among the workspace's (a key or person it does not name is still asked about). */
export function selectPrincipals(
  access: WorkspaceAccess,
  filter: PrincipalFilter | undefined,
  keyNames: Readonly<Record<string, string>> = {},
): ReachPrincipal[] {
  if (!filter) return principalsOf(access, keyNames);
  if (filter.type === 'api_key') return [{ type: 'api_key', keyId: filter.keyId, keyName: keyNames[filter.keyId] }];
  if (filter.type === 'person') return [{ type: 'person', username: filter.username }];
  return [...(access.groups?.[filter.name] ?? [])].sort().map((username) => ({ type: 'person', username }));
}

/** The principal as the edge identifies its caller. */
export function identityOf(p: ReachPrincipal): CallerIdentity {
  if (p.type === 'api_key') return { keyId: p.keyId };
  return { keyId: p.keyId ?? WORKSPACE_KEY, username: p.username };
}

/** The caller's fields conditions read (absent: absent), and those the query cannot know. */
export function callerFieldsOf(p: ReachPrincipal): {
  caller: Record<string, string | undefined>;
  unknown: Set<string>;
} {
  if (p.type === 'api_key') return { caller: { key_id: p.keyId, key_name: p.keyName }, unknown: new Set() };
  if (p.keyId === undefined) return { caller: { user: p.username }, unknown: new Set(['key_id', 'key_name']) };
  return { caller: { key_id: p.keyId, key_name: p.keyName, user: p.username }, unknown: new Set() };
}

/** The groups a person is a member of (by the access document's published groups). */
export function groupsOf(access: WorkspaceAccess, username: string): string[] {
  return Object.entries(access.groups ?? {})
    .filter(([, members]) => members.includes(username))
    .map(([g]) => g)
    .sort();
}
