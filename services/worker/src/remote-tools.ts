import type { ListRemoteToolsJob, ListRemoteToolsResult, ToolInvokeJob, ToolResultPayload } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import type { SecretResolver } from './secret-resolver.ts';
import {
  Client,
  isInputRequiredResult,
  ProtocolError,
  SSEClientTransport,
  StreamableHTTPClientTransport,
  type ClientCapabilities,
  type LoggingLevel,
} from '@modelcontextprotocol/client';
import { z } from 'zod';
import { createGuardedFetch } from './outbound-guard.ts';

/** External MCP servers are reached through the outbound guard like every other upstream. */
const guardedFetch = createGuardedFetch();

type Transport = StreamableHTTPClientTransport | SSEClientTransport;

/** The remote server was reached and answered the request with a JSON-RPC error (or the call was aborted). */
export class RemoteRequestError extends Error {}

/** No answer within the call's time budget. */
export class RemoteTimeoutError extends Error {}

/**
 * Headers configured for an external server: plain ones, plus those sealed in one secret (a JSON object:
 * a server's `externalMcpConfigs`) or one secret per header (a server registered on the workspace). A sealed header
 * whose secret is gone (its server deleted, its headers changed since the plan was compiled) fails the call before
 * anything is sent (ADR 0045): a request never leaves without the credentials its server was configured with.
 */
export async function externalHeaders(
  secrets: Pick<SecretResolver, 'resolve'>,
  plain: Record<string, string>,
  sealed: {
    server?: string | undefined;
    headersSecret?: string | undefined;
    headerSecrets?: Record<string, string> | undefined;
  },
): Promise<Record<string, string>> {
  const out = { ...plain };
  const missing = (what: string) =>
    new UserError(
      'secret.not_found',
      `The external MCP server${sealed.server ? ` "${sealed.server}"` : ''} has no value for ${what} (the server ` +
        'was deleted or its headers changed since this tool was published): nothing was sent.',
    );
  if (sealed.headersSecret) {
    const raw = await secrets.resolve(sealed.headersSecret);
    if (raw === undefined) throw missing('its headers');
    Object.assign(out, raw ? (JSON.parse(raw) as Record<string, string>) : {});
  }
  for (const [name, secret] of Object.entries(sealed.headerSecrets ?? {})) {
    const value = await secrets.resolve(secret);
    if (value === undefined) throw missing(`its header "${name}"`);
    out[name] = value;
  }
  return out;
}

/** The external server `withRemote` connects to, and how. */
interface RemoteConnection {
  url: URL;
  headers: Record<string, string>;
  signal: AbortSignal;
  /** Declared to the server; `handBack`: its `input_required` results go to the caller as they are, never fulfilled here. */
  declare?: { capabilities: ClientCapabilities; handBack: boolean } | undefined;
}

/** Connects with Streamable HTTP, falling back to the legacy HTTP+SSE transport, and runs `use`. */
async function withRemote<T>(
  { url, headers, signal, declare }: RemoteConnection,
  use: (client: Client) => Promise<T>,
): Promise<{ value: T; transport: 'streamable-http' | 'sse' }> {
  const errors: string[] = [];
  const requestInit = { headers };
  for (const [kind, make] of [
    ['streamable-http', () => new StreamableHTTPClientTransport(url, { requestInit, fetch: guardedFetch })],
    ['sse', () => new SSEClientTransport(url, { requestInit, fetch: guardedFetch })],
  ] as const) {
    if (signal.aborted) break;
    const client = new Client(
      { name: 'toolplane', version: '0.1.0' },
      // Multi-round calls hand `input_required` back to the caller; a relayed call (a 2025-era caller) fulfils a
      // 2026-07-28 server's input requests through the relay's handlers.
      {
        versionNegotiation: { mode: 'auto' },
        ...(declare ? { capabilities: declare.capabilities } : {}),
        ...(declare?.handBack ? { inputRequired: { autoFulfill: false } } : {}),
      },
    );
    try {
      try {
        await client.connect(make(), { signal });
      } catch (err) {
        errors.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      // Connected: a failing request is the server's answer, not a reason to try another transport
      // (which would run the tool twice).
      try {
        return { value: await use(client), transport: kind };
      } catch (err) {
        throw new RemoteRequestError(err instanceof Error ? err.message : String(err), { cause: err });
      }
    } finally {
      await client.close().catch(() => undefined);
    }
  }
  throw new Error(
    `could not reach ${url.origin}${url.pathname} (${errors.join('; ')}${signal.aborted ? '; timed out' : ''})`,
  );
}

interface RemoteCallOptions {
  /** The caller cancelled. */
  cancel?: AbortSignal;
  /** The caller wants progress: the remote server's progress notifications are passed on. */
  onProgress?: (p: { progress: number; total?: number; message?: string }) => void;
  /** The caller's log level: asked of the remote server (2026-07-28 `_meta`), its log messages passed on. */
  logLevel?: LoggingLevel;
  onLog?: (m: { level: LoggingLevel; logger?: string; data: unknown }) => void;
  /** 2026-07-28 multi-round-trip: the caller's retry fields and capabilities (see the job's `multiRound`). */
  multiRound?: { inputResponses?: unknown; requestState?: unknown; clientCapabilities?: Record<string, unknown> };
  /** A 2025-era caller's sampling / elicitation: declared to the remote server, its requests asked of the caller. */
  relay?: RemoteRelay;
}

/** How requests the remote server sends during a call reach the caller (the job's `relay`). */
export interface RemoteRelay {
  capabilities: NonNullable<ToolInvokeJob['relay']>;
  ask(method: 'sampling/createMessage' | 'elicitation/create', params: Record<string, unknown>): Promise<unknown>;
}

/** The capabilities declared to the remote server, and its requests relayed (a 2026-07-28 server's input too). */
function relayTo(client: Client, relay: RemoteRelay): void {
  for (const method of ['sampling/createMessage', 'elicitation/create'] as const) {
    const declared = method === 'sampling/createMessage' ? relay.capabilities.sampling : relay.capabilities.elicitation;
    if (declared)
      client.setRequestHandler(method, (req) => relay.ask(method, req.params as Record<string, unknown>) as never);
  }
}

/** The client capabilities an external server may ask input for through an `input_required` result. */
function inputCapabilities(declared: Record<string, unknown> | undefined): ClientCapabilities {
  const out: Record<string, unknown> = {};
  for (const key of ['elicitation', 'sampling', 'roots'] as const)
    if (declared?.[key] && typeof declared[key] === 'object') out[key] = declared[key];
  return out as ClientCapabilities;
}

/** At most this many log messages of one call are passed on (a chatty server cannot flood the caller). */
const maxRelayedLogs = 200;

/** The remote server's log messages, passed on at the caller's level (at most `maxRelayedLogs`). */
function relayLogs(client: Client, opts: RemoteCallOptions): void {
  const onLog = opts.onLog;
  if (!onLog || !opts.logLevel) return;
  let relayed = 0;
  client.setNotificationHandler('notifications/message', (n) => {
    if (relayed++ < maxRelayedLogs)
      onLog({
        level: n.params.level,
        data: n.params.data,
        ...(n.params.logger !== undefined ? { logger: n.params.logger } : {}),
      });
  });
}

/** What a call declares to the remote server: a 2026-07-28 caller's input capabilities, or a relayed caller's. */
function declared(opts: RemoteCallOptions): { capabilities: ClientCapabilities; handBack: boolean } | undefined {
  if (opts.multiRound) return { capabilities: inputCapabilities(opts.multiRound.clientCapabilities), handBack: true };
  if (opts.relay) return { capabilities: opts.relay.capabilities as ClientCapabilities, handBack: false };
  return undefined;
}

/** One call of an external MCP server's tool: where, with which headers and arguments, within how long. */
interface RemoteToolCall extends RemoteCallOptions {
  url: string;
  headers: Record<string, string>;
  tool: string;
  arguments: Record<string, unknown>;
  timeoutMs: number;
}

/** Calls one tool of an external MCP server and returns its result as-is. */
export async function callRemoteTool(opts: RemoteToolCall): Promise<ToolResultPayload> {
  const { url, headers, tool, arguments: args, timeoutMs } = opts;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.cancel ? AbortSignal.any([timeout, opts.cancel]) : timeout;
  const { value } = await withRemote({ url: new URL(url), headers, signal, declare: declared(opts) }, (c) => {
    if (opts.relay) relayTo(c, opts.relay);
    relayLogs(c, opts);
    const onProgress = opts.onProgress;
    const retry = opts.multiRound;
    return c.callTool(
      {
        name: tool,
        arguments: args,
        ...(retry?.inputResponses !== undefined ? { inputResponses: retry.inputResponses } : {}),
        ...(retry?.requestState !== undefined ? { requestState: retry.requestState } : {}),
        ...(opts.logLevel ? { _meta: { 'io.modelcontextprotocol/logLevel': opts.logLevel } } : {}),
      } as Parameters<Client['callTool']>[0],
      {
        signal,
        ...(retry ? { allowInputRequired: true } : {}),
        ...(onProgress
          ? {
              onprogress: (p: { progress: number; total?: number; message?: string }) =>
                onProgress({
                  progress: p.progress,
                  ...(p.total !== undefined ? { total: p.total } : {}),
                  ...(p.message !== undefined ? { message: p.message } : {}),
                }),
            }
          : {}),
      },
    );
  }).catch((err: unknown) => {
    // A multi-round call's invalid params (e.g. a tampered requestState) are the caller's protocol error.
    const cause = (err as { cause?: unknown }).cause;
    // Likewise a capability the caller did not declare (-32021, MissingRequiredClientCapability).
    if (opts.multiRound && cause instanceof ProtocolError && (cause.code === -32602 || cause.code === -32021)) {
      return {
        value: {
          content: [],
          protocolError: {
            code: cause.code,
            message: cause.message,
            ...(cause.data !== undefined ? { data: cause.data } : {}),
          },
        },
      };
    }
    throw timeout.aborted && !opts.cancel?.aborted
      ? new RemoteTimeoutError(`no answer within ${timeoutMs} ms`, { cause: err })
      : err;
  });
  if (isInputRequiredResult(value)) {
    const v = value as unknown as Record<string, unknown>;
    return {
      content: [],
      resultType: 'input_required',
      ...(v.inputRequests ? { inputRequests: v.inputRequests as Record<string, unknown> } : {}),
      ...(typeof v.requestState === 'string' ? { requestState: v.requestState } : {}),
    };
  }
  return value as unknown as ToolResultPayload;
}

/** A request to an external MCP server other than `tools/call`: where, with which headers, within how long. */
interface RemoteRequest {
  url: string;
  headers: Record<string, string>;
  /** The job's `request` (and a 2026-07-28 caller's retry fields). */
  job: Pick<ToolInvokeJob, 'multiRound'> & { request: NonNullable<ToolInvokeJob['request']> };
  timeoutMs: number;
  cancel?: AbortSignal | undefined;
}

/** A request to an external MCP server other than `tools/call` (a job's `request`), its result as-is. */
export async function requestRemote({
  url,
  headers,
  job,
  timeoutMs,
  cancel,
}: RemoteRequest): Promise<Record<string, unknown>> {
  const { request, multiRound: retry } = job;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = cancel ? AbortSignal.any([timeout, cancel]) : timeout;
  // A 2026-07-28 caller's round: its retry fields go along, and an `input_required` answer comes back to it.
  const params = {
    ...request.params,
    ...(retry?.inputResponses !== undefined ? { inputResponses: retry.inputResponses } : {}),
    ...(retry?.requestState !== undefined ? { requestState: retry.requestState } : {}),
  } as never;
  const options = { signal, ...(retry ? { allowInputRequired: true } : {}) };
  const declare = retry ? { capabilities: inputCapabilities(retry.clientCapabilities), handBack: true } : undefined;
  const { value } = await withRemote({ url: new URL(url), headers, signal, declare }, (c): Promise<unknown> => {
    switch (request.method) {
      case 'resources/read':
        return c.readResource(params, options);
      case 'prompts/get':
        return c.getPrompt(params, options);
      case 'completion/complete':
        return c.complete(params, options);
    }
  }).catch((err: unknown) => {
    throw timeout.aborted && !cancel?.aborted
      ? new RemoteTimeoutError(`no answer within ${timeoutMs} ms`, { cause: err })
      : err;
  });
  return value as Record<string, unknown>;
}

/** What one listing found: the tools, and what else the server declares and offers. */
type Listing = Omit<ListRemoteToolsResult, 'v' | 'taskId' | 'ok' | 'transport' | 'error'>;

/** At most this many entries of one list are read (a server cannot make the catalog grow without bound). */
const maxListed = 10_000;

/** Every page of one list method, up to `maxListed` entries. */
async function allPages(
  page: (cursor: string | undefined) => Promise<{ items: unknown[]; nextCursor?: string | undefined }>,
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  do {
    const next = await page(cursor);
    out.push(...(next.items as Record<string, unknown>[]));
    cursor = next.nextCursor;
  } while (cursor && out.length < maxListed);
  return out;
}

/** An `events/list` page (MCP Events, SEP-3415): each event type as the server describes it. */
const EventsPage = z.looseObject({
  events: z.array(z.looseObject({ name: z.string() })),
  nextCursor: z.string().nullish(),
});

/** Whether a server declared the MCP Events extension (or the design sketch's top-level `events` key). */
const declaresEvents = (caps: Record<string, unknown>): boolean =>
  Boolean((caps.extensions as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/events'] ?? caps.events);

async function listWith(transport: Transport, signal: AbortSignal): Promise<Listing> {
  const client = new Client({ name: 'toolplane', version: '0.1.0' }, { versionNegotiation: { mode: 'auto' } });
  try {
    await client.connect(transport, { signal });
    const caps = (client.getServerCapabilities() ?? {}) as Record<string, unknown>;
    const at = (cursor: string | undefined) => ({ ...(cursor ? { cursor } : {}) });
    const tools = await allPages(async (c) => {
      const p = await client.listTools(at(c), { signal });
      return { items: p.tools, nextCursor: p.nextCursor };
    });
    const listing: Listing = { tools, capabilities: caps };
    if (caps.resources) {
      listing.resources = await allPages(async (c) => {
        const p = await client.listResources(at(c), { signal });
        return { items: p.resources, nextCursor: p.nextCursor };
      });
      listing.resourceTemplates = await allPages(async (c) => {
        const p = await client.listResourceTemplates(at(c), { signal });
        return { items: p.resourceTemplates, nextCursor: p.nextCursor };
      });
    }
    if (caps.prompts)
      listing.prompts = await allPages(async (c) => {
        const p = await client.listPrompts(at(c), { signal });
        return { items: p.prompts, nextCursor: p.nextCursor };
      });
    if (declaresEvents(caps))
      listing.events = await allPages(async (c) => {
        const p = await client.request({ method: 'events/list', params: at(c) }, EventsPage, { signal });
        return { items: p.events, nextCursor: p.nextCursor ?? undefined };
      });
    return listing;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/**
 * Lists what an external MCP server offers (`load-tools-from-url`): its tools, and its resources, resource templates,
 * prompts and event types (`events/list`) when it declares them. Streamable HTTP first, then the legacy HTTP+SSE transport. Runs in the worker,
 * the only process with egress.
 */
export function createRemoteToolsHandler(opts: { timeoutMs: number; secrets: SecretResolver; now?: () => number }) {
  const now = opts.now ?? Date.now;
  return async (task: ListRemoteToolsJob): Promise<ListRemoteToolsResult> => {
    const base = { v: 1 as const, taskId: task.taskId };
    const timeoutMs = Math.max(1, Math.min(opts.timeoutMs, task.deadlineAt - now()));
    const signal = AbortSignal.timeout(timeoutMs);
    const requestInit = { headers: await externalHeaders(opts.secrets, task.headers, task) };
    const url = new URL(task.url);
    const errors: string[] = [];
    for (const [kind, make] of [
      ['streamable-http', () => new StreamableHTTPClientTransport(url, { requestInit, fetch: guardedFetch })],
      ['sse', () => new SSEClientTransport(url, { requestInit, fetch: guardedFetch })],
    ] as const) {
      if (signal.aborted) break;
      try {
        return { ...base, ok: true, ...(await listWith(make(), signal)), transport: kind };
      } catch (err) {
        errors.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (signal.aborted) errors.push(`no answer within ${timeoutMs} ms`);
    return {
      ...base,
      ok: false,
      tools: [],
      error: `could not list tools at ${url.origin}${url.pathname} (${errors.join('; ')})`,
    };
  };
}
