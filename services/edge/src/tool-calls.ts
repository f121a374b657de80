import {
  oauthConnectionView,
  runCodeTool,
  type Principal,
  type ToolOutcome,
  type ToolResultPayload,
} from '@toolplane/contracts';
import { toAppError } from '@toolplane/errors';
import { deniedToolCall } from './access.ts';
import type { ToolCall, ToolCallDeps } from './call-types.ts';
import type { LoadedTool } from './catalogs.ts';
import { runCode } from './code-mode.ts';
import { errorResult, invalidArguments } from './pipeline/refusal.ts';
import { runCall } from './pipeline/run.ts';
import { neededConnections, structured, type NeededConnection } from './smart-mode.ts';

export type {
  ConnectLinkRequest,
  LiveCall,
  TaskBinding,
  ToolCall,
  ToolCallDeps,
  ToolCallMessage,
} from './call-types.ts';
export { confirmSealing, toolCall } from './call-types.ts';

/** Thrown for calls naming a tool the server does not expose (a JSON-RPC error, not a tool result). */
export class UnknownToolError extends Error {
  readonly tool: string;
  constructor(tool: string) {
    super(`Unknown tool: ${tool}`);
    this.tool = tool;
  }
}

function throwUnknownTool(name: string): never {
  throw new UnknownToolError(name);
}

/**
 * `tools/call` on the edge: which tool the call names (a SMART meta tool, `run_code`, a tool the caller's access hides),
 * then the call pipeline (pipeline/run.ts): every stage in order, one job with references only, its result.
 */
export async function callTool(deps: ToolCallDeps, call: ToolCall): Promise<ToolOutcome> {
  const { loaded, name } = call;
  if (loaded.catalog.mode === 'SMART') {
    const meta = loaded.meta.get(name);
    if (!meta) throw new UnknownToolError(name);
    return callMetaTool(deps, call, meta);
  }
  const tool = loaded.tools.get(name);
  if (!tool && name === runCodeTool.name && loaded.catalog.codeMode) return runCode(deps, call, runner(deps));
  // A tool the caller's access policies hide is refused (isError + execution record), not unknown.
  if (!tool) return deniedToolCall(deps.records, call, name) ?? throwUnknownTool(name);
  return runCall(deps, call, tool);
}

const unknownTool = (name: string) =>
  errorResult(`No tool named "${name}" in this catalog. Use search_tools to find the right name.`);

/** SMART mode: search, describe and connections are answered here; execute runs the target tool. */
async function callMetaTool(deps: ToolCallDeps, call: ToolCall, meta: LoadedTool): Promise<ToolOutcome> {
  const { loaded, principal, arguments: input } = call;
  if (!meta.validate(input)) return invalidArguments(meta);
  switch (meta.def.name) {
    case 'search_tools': {
      const results = loaded.search!.search(String(input.query), typeof input.limit === 'number' ? input.limit : 5);
      return structured({ results });
    }
    case 'describe_tool': {
      const target = loaded.tools.get(String(input.name));
      if (!target)
        return deniedToolCall(deps.records, call, String(input.name), false) ?? unknownTool(String(input.name));
      const source = loaded.catalog.tools.find((t) => t.tool.name === target.def.name)?.source;
      return structured({ ...target.def, ...(source ? { source } : {}) });
    }
    case 'execute_tool': {
      const target = loaded.tools.get(String(input.name));
      if (!target) return deniedToolCall(deps.records, call, String(input.name)) ?? unknownTool(String(input.name));
      const args = (input.arguments ?? {}) as Record<string, unknown>;
      // The target runs as a call of its own, made from the meta call (a new value; the meta call is not changed).
      return runCall(deps, { ...call, name: target.def.name, arguments: args }, target);
    }
    case 'run_code':
      return runCode(deps, call, runner(deps));
    case 'list_connections':
    case 'connect':
      if (principal.userId && principal.username) return userConnectionsTool(deps, call, meta.def.name);
      return sharedConnectionsTool(call, meta.def.name);
    default:
      throw new UnknownToolError(meta.def.name);
  }
}

/** How a `run_code` program's inner calls run: as any call of the tool. */
const runner = (deps: ToolCallDeps) => (call: ToolCall, tool: LoadedTool) => runCall(deps, call, tool);

/** SMART connections without an external user: the calls run with the server's shared credentials. */
function sharedConnectionsTool(call: ToolCall, which: string): ToolResultPayload {
  if (which === 'connect')
    return structured({
      tool: String(call.arguments.tool),
      message:
        'These calls run with the server’s shared credentials: there is nothing to connect for you. Connections are ' +
        'per end user: the application names the user with the x-username header, then each user connects their own accounts.',
    });
  const connections = new Map<string, { connector: string; instance: string; tools: number }>();
  for (const t of call.loaded.catalog.tools) {
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
async function userConnectionsTool(deps: ToolCallDeps, call: ToolCall, which: string): Promise<ToolResultPayload> {
  const connections = await userConnections(deps, call.principal);
  return which === 'connect' ? connectTool(deps, call, connections) : listConnectionsTool(call, connections);
}

async function connectTool(
  deps: ToolCallDeps,
  call: ToolCall,
  connections: UserConnections,
): Promise<ToolResultPayload> {
  const { loaded } = call;
  const username = call.principal.username!;
  const name = String(call.arguments.tool);
  const tool = loaded.catalog.tools.find((t) => t.tool.name === name);
  if (!tool) return deniedToolCall(deps.records, call, name, false) ?? unknownTool(name);
  const missing = await connections.missingOf(neededConnections(tool, loaded.catalog.serverId));
  if (missing.length === 0)
    return structured({ user: username, tool: name, connected: true, message: `"${name}" is ready for ${username}.` });
  const calls = missing.filter((n) => n.call).map((n) => ({ kind: n.kind, id: n.id, ...n.call!(username) }));
  const account = missing.find((n) => n.kind === 'oauth_account');
  const link = account ? await accountLink(deps, call, name) : undefined;
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

async function listConnectionsTool(call: ToolCall, connections: UserConnections): Promise<ToolResultPayload> {
  const { have, accountOf, missingOf } = connections;
  const serverId = call.loaded.catalog.serverId;
  const byMarker = new Map<string, { kind: string; id: string; tools: string[]; [k: string]: unknown }>();
  const lacking: { tool: string; needs: { kind: string; id: string; status?: string }[] }[] = [];
  for (const t of call.loaded.catalog.tools) {
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
    user: call.principal.username!,
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
async function accountLink(deps: ToolCallDeps, call: ToolCall, tool: string): Promise<string | undefined> {
  if (!deps.connectLink) return undefined;
  const { principal, loaded } = call;
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
