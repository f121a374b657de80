import type { ListRemoteToolsJob, ListRemoteToolsResult, ToolResultPayload } from '@toolplane/contracts';
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
 * a server's `externalMcpConfigs`) or one secret per header (a server registered on the workspace).
 */
export async function externalHeaders(
  secrets: SecretResolver,
  plain: Record<string, string>,
  sealed: { headersSecret?: string | undefined; headerSecrets?: Record<string, string> | undefined },
): Promise<Record<string, string>> {
  const out = { ...plain };
  if (sealed.headersSecret) {
    const raw = await secrets.resolve(sealed.headersSecret);
    Object.assign(out, raw ? (JSON.parse(raw) as Record<string, string>) : {});
  }
  for (const [name, secret] of Object.entries(sealed.headerSecrets ?? {})) {
    const value = await secrets.resolve(secret);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Connects with Streamable HTTP, falling back to the legacy HTTP+SSE transport, and runs `use`. */
async function withRemote<T>(
  url: URL,
  headers: Record<string, string>,
  signal: AbortSignal,
  use: (client: Client) => Promise<T>,
  capabilities?: ClientCapabilities,
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
      // Multi-round calls: the caller's capabilities, and `input_required` handed back (to the caller), never fulfilled here.
      {
        versionNegotiation: { mode: 'auto' },
        ...(capabilities ? { capabilities, inputRequired: { autoFulfill: false } } : {}),
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

export interface RemoteCallOptions {
  /** The caller cancelled. */
  cancel?: AbortSignal;
  /** The caller wants progress: the remote server's progress notifications are passed on. */
  onProgress?: (p: { progress: number; total?: number; message?: string }) => void;
  /** The caller's log level: asked of the remote server (2026-07-28 `_meta`), its log messages passed on. */
  logLevel?: LoggingLevel;
  onLog?: (m: { level: LoggingLevel; logger?: string; data: unknown }) => void;
  /** 2026-07-28 multi-round-trip: the caller's retry fields and capabilities (see the job's `multiRound`). */
  multiRound?: { inputResponses?: unknown; requestState?: unknown; clientCapabilities?: Record<string, unknown> };
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

/** Calls one tool of an external MCP server and returns its result as-is. */
export async function callRemoteTool(
  url: string,
  headers: Record<string, string>,
  tool: string,
  args: Record<string, unknown>,
  timeoutMs: number,
  opts: RemoteCallOptions = {},
): Promise<ToolResultPayload> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.cancel ? AbortSignal.any([timeout, opts.cancel]) : timeout;
  const { value } = await withRemote(
    new URL(url),
    headers,
    signal,
    (c) => {
      const onLog = opts.onLog;
      if (onLog && opts.logLevel) {
        let relayed = 0;
        c.setNotificationHandler('notifications/message', (n) => {
          if (relayed++ < maxRelayedLogs)
            onLog({
              level: n.params.level,
              data: n.params.data,
              ...(n.params.logger !== undefined ? { logger: n.params.logger } : {}),
            });
        });
      }
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
    },
    opts.multiRound ? inputCapabilities(opts.multiRound.clientCapabilities) : undefined,
  ).catch((err: unknown) => {
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

async function listWith(transport: Transport, signal: AbortSignal): Promise<Record<string, unknown>[]> {
  const client = new Client({ name: 'toolplane', version: '0.1.0' }, { versionNegotiation: { mode: 'auto' } });
  try {
    await client.connect(transport, { signal });
    const tools: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : {}, { signal });
      tools.push(...(page.tools as unknown as Record<string, unknown>[]));
      cursor = page.nextCursor;
    } while (cursor && tools.length < 10_000);
    return tools;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/**
 * Lists the tools of an external MCP server (seed 002 `load-tools-from-url`): Streamable HTTP first,
 * then the legacy HTTP+SSE transport. Runs in the worker, the only process with egress.
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
        const tools = await listWith(make(), signal);
        return { ...base, ok: true, tools, transport: kind };
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
