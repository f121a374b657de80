// Raw MCP requests, for tests that check the bytes on the wire rather than an SDK client's view of them.

/**
 * POSTs one JSON-RPC message to an MCP endpoint as a stateless Streamable HTTP client does (JSON or SSE
 * accepted); `headers` adds credentials, the protocol version and the like. Gives the raw response.
 */
export function postMcp(
  url: string,
  message: unknown,
  headers: Record<string, string> = {},
  timeoutMs?: number,
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(message),
    ...(timeoutMs !== undefined ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
  });
}

/** What a JSON-RPC answer holds: its result, or its error. */
export interface JsonRpcAnswer {
  result?: Record<string, unknown>;
  error?: { code?: number; message: string; data?: unknown };
}

/**
 * The last JSON-RPC message of an answer: a JSON body, or the last `data:` line of an event stream. Throws when it is
 * not JSON (the text is in the error).
 */
export async function lastMessage(res: Response): Promise<JsonRpcAnswer> {
  const text = (await res.text()).trim();
  const data = text.startsWith('{')
    ? text
    : (text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .at(-1)
        ?.slice(6) ?? text);
  try {
    return JSON.parse(data) as JsonRpcAnswer;
  } catch {
    throw new Error(`not a JSON-RPC answer (HTTP ${res.status}): ${text.slice(0, 300)}`);
  }
}
