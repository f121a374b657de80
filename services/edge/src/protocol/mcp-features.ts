import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  INVALID_REQUEST,
  ProtocolError,
  UriTemplate,
  type Server,
  type ServerCapabilities,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { toolResultValue, type ExternalFeatures, type ToolInvokeJob } from '@toolplane/contracts';
import { callerSessionScope, type EdgeCallContext } from '../calls/call-context.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';
import { readStages } from '../pipeline/order.ts';
import { readTool, runCall } from '../pipeline/run.ts';
import { toolCall, type ToolCallDeps } from '../calls/call-types.ts';

/**
 * What a server offers besides tools: the resources, resource templates, prompts and completions of the external MCP
 * servers attached to it (ADR 0041), as the caller's catalog view holds them (governance/access.ts grants them). Lists are
 * answered from the catalog; reads, prompts, completions and subscriptions cross the queue to a worker, which alone
 * holds the external servers' headers, like their tool calls.
 */

type Request = NonNullable<ToolInvokeJob['request']>;

/** A catalog's external features indexed for serving (built once per catalog view). */
interface FeatureIndex {
  /** By published URI; `remoteUri`: the URI its server knows, where it was made unique (ADR 0058). */
  resources: Map<string, { server: string; resource: Record<string, unknown>; remoteUri?: string }>;
  templates: { server: string; template: Record<string, unknown>; matcher: UriTemplate | undefined }[];
  prompts: Map<string, { server: string; prompt: Record<string, unknown>; remoteName: string }>;
  servers: Map<string, ExternalFeatures>;
}

const indexes = new WeakMap<LoadedCatalog, FeatureIndex>();

function indexOf(loaded: LoadedCatalog): FeatureIndex {
  let index = indexes.get(loaded);
  if (index) return index;
  index = { resources: new Map(), templates: [], prompts: new Map(), servers: new Map() };
  for (const f of loaded.catalog.external ?? []) {
    index.servers.set(f.server, f);
    for (const resource of f.resources) {
      const uri = String(resource.uri);
      const remoteUri = f.remoteUris?.[uri];
      index.resources.set(uri, { server: f.server, resource, ...(remoteUri ? { remoteUri } : {}) });
    }
    for (const template of f.resourceTemplates) {
      let matcher: UriTemplate | undefined;
      try {
        matcher = new UriTemplate(String(template.uriTemplate));
      } catch {
        matcher = undefined; // listed as the server gave it; never matched
      }
      index.templates.push({ server: f.server, template, matcher });
    }
    for (const p of f.prompts) index.prompts.set(String(p.prompt.name), { server: f.server, ...p });
  }
  indexes.set(loaded, index);
  return index;
}

const none: Partial<ServerCapabilities> = {};
const capabilities = new WeakMap<LoadedCatalog, Partial<ServerCapabilities>>();

/** The capabilities beyond tools this catalog view really offers (nothing is declared that is not there). */
export function featureCapabilities(loaded: LoadedCatalog): Partial<ServerCapabilities> {
  const external = loaded.catalog.external;
  if (!external) return none; // a server without external features (nearly all) pays this check only
  let caps = capabilities.get(loaded);
  if (!caps) capabilities.set(loaded, (caps = capabilitiesOf(external)));
  return caps;
}

function capabilitiesOf(external: readonly ExternalFeatures[]): Partial<ServerCapabilities> {
  const resources = external.some((f) => f.resources.length + f.resourceTemplates.length > 0);
  const prompts = external.some((f) => f.prompts.length > 0);
  const completions = external.some((f) => f.completions);
  // Subscriptions where an attached server takes them: a worker watches what is subscribed (resource-watcher.ts).
  const subscribe = external.some((f) => f.subscribe && f.resources.length + f.resourceTemplates.length > 0);
  return {
    ...(resources ? { resources: { listChanged: true, ...(subscribe ? { subscribe: true } : {}) } } : {}),
    ...(prompts ? { prompts: { listChanged: true } } : {}),
    ...(completions ? { completions: {} } : {}),
  };
}

/**
 * The attached server a caller may subscribe to `uri` at (one that takes subscriptions), if any. A `ui://` URI made
 * unique is an app's template, not relayed to its server's subscriptions.
 */
export function subscribableOwner(loaded: LoadedCatalog, uri: string): string | undefined {
  const index = indexOf(loaded);
  if (index.resources.get(uri)?.remoteUri) return undefined;
  const owner = serverOfUri(index, uri);
  return owner && index.servers.get(owner)?.subscribe ? owner : undefined;
}

/** Which attached server a URI belongs to: one it listed, else the first whose URI template matches. */
function serverOfUri(index: FeatureIndex, uri: string): string | undefined {
  const listed = index.resources.get(uri);
  if (listed) return listed.server;
  return index.templates.find((t) => t.matcher?.match(uri))?.server;
}

const unknownResource = (uri: string) => new ProtocolError(INVALID_PARAMS, `Resource not found: ${uri}`, { uri });

/** What the handlers need: the edge's call dependencies and how the request's caller context is found. */
export interface FeatureBinding {
  readonly deps: ToolCallDeps;
  readonly current: (ctx: ServerContext) => EdgeCallContext;
  /** A 2026-07-28 request's multi-round-trip fields and capabilities (an external prompt may answer `input_required`). */
  readonly multiRound: (ctx: ServerContext) => ToolInvokeJob['multiRound'];
}

/** Registers the list, read, prompt, completion and subscription handlers a catalog view offers on `server`. */
export function registerFeatures(server: Server, loaded: LoadedCatalog, b: FeatureBinding): void {
  const caps = featureCapabilities(loaded);
  const view = (ctx: ServerContext) => indexOf(b.current(ctx).caller.loaded);
  if (caps.resources) {
    server.setRequestHandler('resources/list', (_r, ctx) => ({
      resources: [...view(ctx).resources.values()].map((r) => r.resource) as never,
    }));
    server.setRequestHandler('resources/templates/list', (_r, ctx) => ({
      resourceTemplates: view(ctx).templates.map((t) => t.template) as never,
    }));
    server.setRequestHandler('resources/read', async (r, ctx) => {
      const { uri } = r.params;
      const index = view(ctx);
      const server = serverOfUri(index, uri);
      if (!server) throw unknownResource(uri);
      const remoteUri = index.resources.get(uri)?.remoteUri;
      const params = { uri: remoteUri ?? uri };
      const answer = await forward(b, ctx, { method: 'resources/read', server, params }, uri);
      return (remoteUri ? publishedContents(answer, remoteUri, uri) : answer) as never;
    });
  }
  if (caps.resources?.subscribe) {
    server.setRequestHandler('resources/subscribe', async (r, ctx) => {
      const { scope, owner } = subscription(b, ctx, r.params.uri);
      await b.deps.subscriptions!.subscribe(scope, r.params.uri);
      await b.deps.subscriptions!.want(b.current(ctx).caller.loaded.catalog.serverId, [
        { server: owner, uri: r.params.uri },
      ]);
      return {};
    });
    server.setRequestHandler('resources/unsubscribe', async (r, ctx) => {
      await b.deps.subscriptions!.unsubscribe(subscription(b, ctx, r.params.uri).scope, r.params.uri);
      return {};
    });
  }
  if (caps.prompts) {
    server.setRequestHandler('prompts/list', (_r, ctx) => ({
      prompts: [...view(ctx).prompts.values()].map((p) => p.prompt) as never,
    }));
    server.setRequestHandler('prompts/get', async (r, ctx) => {
      const p = view(ctx).prompts.get(r.params.name);
      if (!p) throw new ProtocolError(INVALID_PARAMS, `Unknown prompt: ${r.params.name}`);
      const params = { name: p.remoteName, ...(r.params.arguments ? { arguments: r.params.arguments } : {}) };
      return (await forward(b, ctx, { method: 'prompts/get', server: p.server, params }, r.params.name)) as never;
    });
  }
  if (caps.completions) server.setRequestHandler('completion/complete', (r, ctx) => complete(b, ctx, r.params));
}

/**
 * A read of a `ui://` URI made unique: the contents its server gave under its own URI carry the published one (what
 * the caller read); everything else is as the server gave it.
 */
function publishedContents(answer: Record<string, unknown>, remoteUri: string, uri: string): Record<string, unknown> {
  if (!Array.isArray(answer.contents)) return answer;
  const contents = (answer.contents as Record<string, unknown>[]).map((c) => (c.uri === remoteUri ? { ...c, uri } : c));
  return { ...answer, contents };
}

/**
 * A 2025-era subscription's session scope and the server that owns the URI: subscriptions live in a session (its
 * updates go to the session's stream), and only to a resource the caller sees at a server that takes them.
 */
function subscription(b: FeatureBinding, ctx: ServerContext, uri: string): { scope: string; owner: string } {
  const c = b.current(ctx);
  const sessionId = ctx.sessionId ?? c.sessionId;
  if (!sessionId || !b.deps.subscriptions)
    throw new ProtocolError(INVALID_REQUEST, 'Resource subscriptions need an MCP session: initialize first');
  const owner = subscribableOwner(c.caller.loaded, uri);
  if (!owner) throw unknownResource(uri);
  return { scope: callerSessionScope(c.caller, sessionId), owner };
}

const noCompletion = { completion: { values: [], hasMore: false } };

/** Completes a visible prompt's argument or a visible template's variable at the server that offers it. */
async function complete(
  b: FeatureBinding,
  ctx: ServerContext,
  params: { ref: { type: string; name?: string; uri?: string } } & Record<string, unknown>,
) {
  const index = indexOf(b.current(ctx).caller.loaded);
  const { ref } = params;
  let server: string | undefined;
  let forwarded: Record<string, unknown> = params;
  if (ref.type === 'ref/prompt') {
    const p = index.prompts.get(String(ref.name));
    if (!p) throw new ProtocolError(INVALID_PARAMS, `Unknown prompt: ${String(ref.name)}`);
    server = p.server;
    forwarded = { ...params, ref: { ...ref, name: p.remoteName } };
  } else {
    server = index.templates.find((t) => t.template.uriTemplate === ref.uri)?.server;
    if (!server) throw unknownResource(String(ref.uri));
  }
  if (!index.servers.get(server)?.completions) return noCompletion as never;
  const label = ref.type === 'ref/prompt' ? String(ref.name) : String(ref.uri);
  return (await forward(b, ctx, { method: 'completion/complete', server, params: forwarded }, label)) as never;
}

/**
 * One request to an external MCP server through the queue: a read through the call pipeline (`readStages`: the
 * stages that apply to reads: a narrowed token's rights, the session's labels, the caller's quotas), then a job naming
 * the catalog version, the attached server and the request (references only, like a tool call's), answered by a
 * worker with the server's result. The server's own JSON-RPC error (a resource it does not have, say) is relayed as
 * that error; a refusal by a stage or a failure to reach the server is an internal error saying so.
 */
async function forward(
  b: FeatureBinding,
  ctx: ServerContext,
  request: Request,
  label: string,
): Promise<Record<string, unknown>> {
  const multiRound = b.multiRound(ctx);
  const message = { id: ctx.mcpReq.id, name: label, args: {} };
  const current = b.current(ctx);
  const call = toolCall(current, message, ctx.mcpReq.signal, multiRound ? { multiRound } : undefined);
  // A resource's contents and a prompt's messages bring the server's classification into the caller's session, as a
  // tool's result does (ADR 0078); a completion's suggestions bring nothing.
  const brings = request.method === 'completion/complete' ? undefined : current.caller.loaded.catalog.classification;
  const tool = readTool(label, brings);
  const result = toolResultValue(await runCall(b.deps, call, tool, { stages: readStages, read: request }));
  if (result.protocolError) {
    const e = result.protocolError;
    throw new ProtocolError(e.code, e.message, e.data);
  }
  if (result.mcpResult) return result.mcpResult;
  const text = result.content.map((c) => (typeof c.text === 'string' ? c.text : '')).join('');
  throw new ProtocolError(INTERNAL_ERROR, text || `The worker gave no answer to ${request.method}`);
}
