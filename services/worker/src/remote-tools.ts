import type { ListRemoteToolsJob, ListRemoteToolsResult, ToolResultPayload } from '@toolplane/contracts';
import type { SecretResolver } from './secret-resolver.ts';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createGuardedFetch } from './outbound-guard.ts';

/** External MCP servers are reached through the outbound guard like every other upstream. */
const guardedFetch = createGuardedFetch();

type Transport = StreamableHTTPClientTransport | SSEClientTransport;

/** Headers configured for an external server: plain ones plus those sealed in a secret (a JSON object). */
export async function externalHeaders(secrets: SecretResolver, plain: Record<string, string>, headersSecret: string | undefined): Promise<Record<string, string>> {
  if (!headersSecret) return plain;
  const raw = await secrets.resolve(headersSecret);
  return { ...plain, ...(raw ? (JSON.parse(raw) as Record<string, string>) : {}) };
}

/** Connects with Streamable HTTP, falling back to the legacy HTTP+SSE transport, and runs `use`. */
async function withRemote<T>(url: URL, headers: Record<string, string>, signal: AbortSignal, use: (client: Client) => Promise<T>): Promise<{ value: T; transport: 'streamable-http' | 'sse' }> {
  const errors: string[] = [];
  const requestInit = { headers };
  for (const [kind, make] of [
    ['streamable-http', () => new StreamableHTTPClientTransport(url, { requestInit, fetch: guardedFetch })],
    ['sse', () => new SSEClientTransport(url, { requestInit, fetch: guardedFetch })],
  ] as const) {
    if (signal.aborted) break;
    const client = new Client({ name: 'toolplane', version: '0.1.0' }, { versionNegotiation: { mode: 'auto' } });
    try {
      await client.connect(make(), { signal });
      return { value: await use(client), transport: kind };
    } catch (err) {
      errors.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await client.close().catch(() => undefined);
    }
  }
  throw new Error(`could not reach ${url.origin}${url.pathname} (${errors.join('; ')}${signal.aborted ? '; timed out' : ''})`);
}

/** Calls one tool of an external MCP server and returns its result as-is. */
export async function callRemoteTool(url: string, headers: Record<string, string>, tool: string, args: Record<string, unknown>, timeoutMs: number): Promise<ToolResultPayload> {
  const signal = AbortSignal.timeout(timeoutMs);
  const { value } = await withRemote(new URL(url), headers, signal, (c) => c.callTool({ name: tool, arguments: args }, { signal }));
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
    const requestInit = { headers: await externalHeaders(opts.secrets, task.headers, task.headersSecret) };
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
    return { ...base, ok: false, tools: [], error: `could not list tools at ${url.origin}${url.pathname} (${errors.join('; ')})` };
  };
}
