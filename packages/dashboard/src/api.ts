import {
  ApiError,
  createManagementClient,
  unwrap,
  type components,
  type ManagementClient,
  type ProblemIssue,
} from '@toolplane/client';

export type Schemas = components['schemas'];

/**
 * What this tab signed in with: an API key, or a signed-in user's OAuth access token (its expiry and the API-key
 * scopes it grants, read from its claims for the pages' hints; the control plane decides). Kept in session storage:
 * this tab only, gone when it closes.
 */
export type Credential =
  { kind: 'key'; key: string } | { kind: 'token'; token: string; expiresAt: number; scopes: string[]; subject: string };

const KEY = 'toolplane.credential';

export function storedCredential(): Credential | null {
  try {
    const c = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Credential | null;
    if (c?.kind === 'key' && typeof c.key === 'string') return c;
    if (c?.kind === 'token' && typeof c.token === 'string' && c.expiresAt > Date.now()) return c;
  } catch {
    // not ours: signed out
  }
  return null;
}

/** Keeps `c` for this tab; null signs out: everything the dashboard kept in this tab (a runtime key too) is gone. */
export function storeCredential(c: Credential | null): void {
  if (c !== null) return sessionStorage.setItem(KEY, JSON.stringify(c));
  for (const k of Object.keys(sessionStorage)) if (k.startsWith('toolplane.')) sessionStorage.removeItem(k);
}

/** The API key this tab signed in with (null when a user signed in with OAuth). */
export function storedKey(): string | null {
  const c = storedCredential();
  return c?.kind === 'key' ? c.key : null;
}

export function clientFor(c: Credential): ManagementClient {
  return createManagementClient(window.location.origin, c.kind === 'key' ? c.key : { accessToken: c.token });
}

export { ApiError, unwrap };

/** One problem of a rejected document or body: a JSON pointer and what is wrong there. */
export type Issue = ProblemIssue;

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (HTTP ${err.status}${err.code ? `, ${err.code}` : ''})`;
  return err instanceof Error ? err.message : String(err);
}

/** The workspace's connector instances and its first 100 servers (the pages that show what runs on what). */
export async function instancesAndServers(client: ManagementClient) {
  const [instances, servers] = await Promise.all([
    unwrap(client.GET('/connector_instances')),
    unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })),
  ]);
  return { instances: instances.data, servers: servers.data };
}
