import type { ListRemoteToolsJob, ListRemoteToolsResult } from '@toolplane/contracts';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

type Transport = StreamableHTTPClientTransport | SSEClientTransport;

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
export function createRemoteToolsHandler(opts: { timeoutMs: number; now?: () => number }) {
  const now = opts.now ?? Date.now;
  return async (task: ListRemoteToolsJob): Promise<ListRemoteToolsResult> => {
    const base = { v: 1 as const, taskId: task.taskId };
    const timeoutMs = Math.max(1, Math.min(opts.timeoutMs, task.deadlineAt - now()));
    const signal = AbortSignal.timeout(timeoutMs);
    const requestInit = { headers: task.headers };
    const url = new URL(task.url);
    const errors: string[] = [];
    for (const [kind, make] of [
      ['streamable-http', () => new StreamableHTTPClientTransport(url, { requestInit })],
      ['sse', () => new SSEClientTransport(url, { requestInit })],
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
