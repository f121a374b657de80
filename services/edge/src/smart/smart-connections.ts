import { oauthConnectionView, type Principal, type ToolResultPayload } from '@toolplane/contracts';
import { toAppError } from '@toolplane/errors';
import { deniedToolCall } from '../governance/access.ts';
import type { ToolCallDeps } from '../calls/call-types.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';
import { errorResult } from '../pipeline/refusal.ts';
import { neededConnections, structured, type NeededConnection } from './smart-mode.ts';

/**
 * SMART mode's connection tools (`list_connections`, `connect`): what the caller has connected and how to connect
 * what a tool lacks. They are about the caller and the catalog, not about a call: they read only those.
 */

/** Who asks, and the catalog view they see. */
export interface CatalogCaller {
  readonly loaded: LoadedCatalog;
  readonly principal: Readonly<Principal>;
}

export const unknownTool = (name: string) =>
  errorResult(`No tool named "${name}" in this catalog. Use search_tools to find the right name.`);

/** `list_connections` or `connect` (`which`) for `tool`: an external user's own, else the server's shared ones. */
export function connectionsTool(
  deps: ToolCallDeps,
  who: CatalogCaller,
  which: string,
  tool: string,
): ToolResultPayload | Promise<ToolResultPayload> {
  if (who.principal.userId && who.principal.username) return userConnectionsTool(deps, who, which, tool);
  return sharedConnectionsTool(who, which, tool);
}

/** SMART connections without an external user: the calls run with the server's shared credentials. */
function sharedConnectionsTool(who: CatalogCaller, which: string, tool: string): ToolResultPayload {
  if (which === 'connect')
    return structured({
      tool,
      message:
        'These calls run with the server’s shared credentials: there is nothing to connect for you. Connections are ' +
        'per end user: the application names the user with the x-username header, then each user connects their own accounts.',
    });
  const connections = new Map<string, { connector: string; instance: string; tools: number }>();
  for (const t of who.loaded.catalog.tools) {
    if (!t.source) continue;
    const key = `${t.source.connector}/${t.source.instance}`;
    const c = connections.get(key) ?? { connector: t.source.connector, instance: t.source.instance, tools: 0 };
    c.tools++;
    connections.set(key, c);
  }
  return structured({
    connections: [...connections.values()],
    howToConnect:
      'To connect another account, an administrator creates a connector instance with its credentials: ' +
      'POST /api/v1/connector_instances { connector_id, name, credentials }. Its tools then appear in search_tools.',
  });
}

/** What an external user has connected, as SMART's connection tools read it (each OAuth account looked up once). */
interface UserConnections {
  readonly have: ReadonlySet<string>;
  /** An OAuth account's status as the worker recorded it (undefined unless it is an account the user connected). */
  accountOf(n: NeededConnection): Promise<ReturnType<typeof oauthConnectionView> | undefined>;
  /** The needs not met (in order): an account that needs re-authorisation counts as missing. */
  missingOf(needs: NeededConnection[]): Promise<NeededConnection[]>;
}

async function userConnections(deps: ToolCallDeps, principal: Readonly<Principal>): Promise<UserConnections> {
  const userId = principal.userId!;
  const have = (await deps.userConnections?.(principal.workspaceId, userId)) ?? new Set<string>();
  const accounts = new Map<string, ReturnType<typeof oauthConnectionView>>();
  const accountOf = async (n: NeededConnection) => {
    if (n.kind !== 'oauth_account' || !have.has(n.marker)) return undefined;
    let known = accounts.get(n.marker);
    if (!known) {
      known = oauthConnectionView(await deps.oauthConnectionState?.(n.connection!.replace('{user}', userId)));
      accounts.set(n.marker, known);
    }
    return known;
  };
  const connected = async (n: NeededConnection) =>
    have.has(n.marker) && (n.kind !== 'oauth_account' || (await accountOf(n))?.status === 'connected');
  const missingOf = async (needs: NeededConnection[]) => {
    const missing: NeededConnection[] = [];
    for (const n of needs) if (!(await connected(n))) missing.push(n);
    return missing;
  };
  return { have, accountOf, missingOf };
}

const managementHow =
  'Your application (not this conversation) sends this request to the Toolplane management API with its API key; ' +
  'never ask the user to type a secret here.';

/**
 * SMART "manage connections" for an external user: `list_connections` shows the user's own
 * connections and the tools that lack one; `connect` gives the exact management API call that adds
 * what a tool lacks (placeholders only: no secret ever travels through the model), and for a person's
 * own account a connect link made by a worker (the person signs in at the provider).
 */
async function userConnectionsTool(
  deps: ToolCallDeps,
  who: CatalogCaller,
  which: string,
  tool: string,
): Promise<ToolResultPayload> {
  const connections = await userConnections(deps, who.principal);
  return which === 'connect' ? connectTool(deps, who, connections, tool) : listConnectionsTool(who, connections);
}

async function connectTool(
  deps: ToolCallDeps,
  who: CatalogCaller,
  connections: UserConnections,
  name: string,
): Promise<ToolResultPayload> {
  const { loaded } = who;
  const username = who.principal.username!;
  const tool = loaded.catalog.tools.find((t) => t.tool.name === name);
  if (!tool) return deniedToolCall(deps.records, who, name, false) ?? unknownTool(name);
  const missing = await connections.missingOf(neededConnections(tool, loaded.catalog.serverId));
  if (missing.length === 0)
    return structured({ user: username, tool: name, connected: true, message: `"${name}" is ready for ${username}.` });
  const calls = missing.filter((n) => n.call).map((n) => ({ kind: n.kind, id: n.id, ...n.call!(username) }));
  const account = missing.find((n) => n.kind === 'oauth_account');
  const link = account ? await accountLink(deps, who, name) : undefined;
  const linkHow = (link: string) =>
    `Give ${username} this link to open in a browser (it works once, for 10 minutes; whoever opens it first connects ` +
    `their account as ${username}, so give it to them only), then call ${name} again: ${link}`;
  const accountHow = () =>
    `Call ${name} for ${username}: while their account is not connected, its error carries a link for them to open ` +
    '(it works once, for 10 minutes). They sign in at the provider; the agent never sees their tokens.';
  return structured({
    user: username,
    tool: name,
    connected: false,
    ...(calls.length > 0 ? { calls } : {}),
    ...(account
      ? {
          account: {
            kind: account.kind,
            id: account.id,
            status: (await connections.accountOf(account))?.status ?? 'missing',
          },
        }
      : {}),
    ...(link ? { link } : {}),
    message: [calls.length > 0 ? managementHow : '', account ? (link ? linkHow(link) : accountHow()) : '']
      .filter(Boolean)
      .join(' '),
  });
}

async function listConnectionsTool(who: CatalogCaller, connections: UserConnections): Promise<ToolResultPayload> {
  const { have, accountOf, missingOf } = connections;
  const serverId = who.loaded.catalog.serverId;
  const byMarker = new Map<string, { kind: string; id: string; tools: string[]; [k: string]: unknown }>();
  const lacking: { tool: string; needs: { kind: string; id: string; status?: string }[] }[] = [];
  for (const t of who.loaded.catalog.tools) {
    const needs = neededConnections(t, serverId);
    const missing = await missingOf(needs);
    for (const n of needs.filter((x) => have.has(x.marker))) {
      const account = await accountOf(n);
      const c = byMarker.get(n.marker) ?? { kind: n.kind, id: n.id, ...(account ?? {}), tools: [] };
      c.tools.push(t.tool.name);
      byMarker.set(n.marker, c);
    }
    if (missing.length > 0)
      lacking.push({
        tool: t.tool.name,
        needs: await Promise.all(
          missing.map(async (x) => {
            const account = await accountOf(x);
            return { kind: x.kind, id: x.id, ...(account ? { status: account.status } : {}) };
          }),
        ),
      });
  }
  return structured({
    user: who.principal.username!,
    connections: [...byMarker.values()],
    toolsWithoutConnection: lacking,
    howToConnect: `Call connect with a tool's name for the exact request that adds its connection. ${managementHow}`,
  });
}

/**
 * A new connect link for the person's own account of `tool`, made by a worker (only workers read the OAuth app's
 * credentials a link names); undefined when none can be made (the tool error of a call then carries one, or says
 * why not).
 */
async function accountLink(deps: ToolCallDeps, who: CatalogCaller, tool: string): Promise<string | undefined> {
  if (!deps.connectLink) return undefined;
  const { principal, loaded } = who;
  try {
    const r = await deps.connectLink({
      workspaceId: principal.workspaceId,
      userId: principal.userId!,
      username: principal.username!,
      serverId: loaded.catalog.serverId,
      catalogVersion: loaded.catalog.version,
      tool,
    });
    if (!r.url) deps.log.debug({ tool, reason: r.error }, 'no connect link for SMART connect');
    return r.url;
  } catch (err) {
    deps.log.warn({ tool, code: toAppError(err).code }, 'connect link not made for SMART connect');
    return undefined;
  }
}
