import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  createTaskSessionFromClient,
  type JsonRpcResponse,
  type TaskEnabledSession,
} from '@modelcontextprotocol/ext-tasks/client';

/**
 * Sessions of the SDK's Tasks client (@modelcontextprotocol/ext-tasks) on an edge: 2025-11-25 (client-directed,
 * `params.task`) over the SDK client, 2026-07-28 (server-directed) with the Tasks surface's requests sent as framed.
 * Each session and client made is pushed on `opened` for the file's `afterAll` to close.
 */

/** Called with each JSON request body and its answer's text (e.g. to note what `tasks/get` said as it was polled). */
type AnswerHook = (requestBody: unknown, answer: string) => void;

/**
 * fetch whose JSON bodies are parsed in this test's realm: the Tasks client accepts plain objects of its own realm
 * only, and Node's fetch parses JSON in another one (jest runs tests in a VM context).
 */
function realmFetch(onAnswer?: AnswerHook): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (!res.headers.get('content-type')?.startsWith('application/json')) return res;
    const text = await res.text();
    onAnswer?.(init?.body, text);
    return Object.assign(new Response(text, res), { json: () => Promise.resolve(JSON.parse(text) as unknown) });
  };
}

export interface SessionOptions {
  /** The request headers (a key); none: anonymous. */
  headers?: Record<string, string>;
  onAnswer?: AnswerHook;
  /** Where what must be closed goes. */
  opened: { close(): Promise<void> }[];
}

/** A 2025-11-25 Tasks session over the SDK client; `client` is its MCP client. */
export async function legacyTaskSession(
  url: string,
  opts: SessionOptions,
): Promise<{ session: TaskEnabledSession; client: Client }> {
  const client = new Client({ name: 'tasks-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: opts.headers ?? {} },
    fetch: realmFetch(opts.onAnswer),
  });
  await client.connect(transport);
  const session = createTaskSessionFromClient(client, { endpointId: 'legacy' });
  opts.opened.push(session, client);
  return { session, client };
}

/** A 2026-07-28 Tasks session: the SDK client for discovery, requests of the Tasks surface sent as they are framed. */
export async function modernTaskSession(url: string, opts: SessionOptions): Promise<TaskEnabledSession> {
  const headers = opts.headers ?? {};
  const client = new Client({ name: 'tasks-test', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers }, fetch: realmFetch(opts.onAnswer) }),
  );
  let id = 0;
  const rawDispatch = async (request: unknown): Promise<JsonRpcResponse> => {
    const { method, params } = request as { method: string; params: Record<string, unknown> };
    const name = method === 'tools/call' ? params.name : params.taskId;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': method,
        ...(typeof name === 'string' ? { 'mcp-name': name } : {}),
        ...headers,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
    });
    const body = JSON.parse(await res.text()) as { result?: never; error?: never };
    return body.error ? { kind: 'error', error: body.error } : { kind: 'result', result: body.result! };
  };
  const v2RequestFraming = {
    protocolVersion: '2026-07-28',
    clientInfo: { name: 'tasks-test', version: '1.0.0' },
    clientCapabilities: {},
  };
  const session = createTaskSessionFromClient(client, { endpointId: 'modern', rawDispatch, v2RequestFraming });
  opts.opened.push(session, client);
  return session;
}
