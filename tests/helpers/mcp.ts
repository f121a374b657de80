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
