import { SerializedToolResult, type ToolResultPayload } from '@toolplane/contracts';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/server';
import type { Request, Response } from 'express';
import { observedCall } from '../calls/call-span.ts';
import { isProxiedTool, type LoadedCatalog } from '../state/catalogs.ts';
import type { ToolCall, ToolCallDeps, ToolCallMessage } from '../calls/call-types.ts';

const plainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const onlyKeys = (o: Record<string, unknown>, allowed: readonly string[]) =>
  Object.keys(o).every((k) => allowed.includes(k));

const resultOpening = Buffer.from('{"result":');
/** Below this size a serialised result is copied into one buffer with its envelope (cheaper than three writes). */
const copyBelowBytes = 16 * 1024;

/** As the SDK normalizes a result without content (`content: []` added last). */
function contentful(result: ToolResultPayload): ToolResultPayload {
  return result.content === undefined ? { ...result, content: [] } : result;
}

/**
 * The common 2025-era call (fast path): one JSON-RPC `tools/call` request, valid as the SDK
 * would find it, of a tool of a NORMAL server that this caller sees, that is not proxied to an
 * external MCP server (only those may answer with `input_required` or log messages) and not marked `confirm`,
 * without `_meta` (no progress token, no trace context in the message), and headers the SDK's transport
 * accepts. Anything else (or anything unusual) goes through the SDK. Returns the call's parts, or undefined.
 */
export function plainToolsCall(
  req: Pick<Request, 'get'>,
  body: unknown,
  loaded: LoadedCatalog,
): ToolCallMessage | undefined {
  if (!plainObject(body) || !onlyKeys(body, ['jsonrpc', 'id', 'method', 'params'])) return undefined;
  if (body.jsonrpc !== '2.0' || body.method !== 'tools/call') return undefined;
  const id = body.id;
  if (!(typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id)))) return undefined;
  const params = body.params;
  if (!plainObject(params) || !onlyKeys(params, ['name', 'arguments'])) return undefined;
  const { name, arguments: args } = params;
  if (typeof name !== 'string' || (args !== undefined && !plainObject(args))) return undefined;
  if (loaded.catalog.mode !== 'NORMAL') return undefined;
  const tool = loaded.tools.get(name);
  // A tool marked `confirm` asks a person first, on a stream or in an `input_required` result: the SDK's path.
  if (tool === undefined || tool.rules.confirm || isProxiedTool(loaded, name)) return undefined;
  const accept = req.get('accept') ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return undefined;
  if (!/^application\/json\s*(;|$)/i.test(req.get('content-type') ?? '')) return undefined;
  const version = req.get('mcp-protocol-version');
  if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return undefined;
  return { id, name, args };
}

/** The SDK's first protocol revision of the modern era (its `FIRST_MODERN_PROTOCOL_VERSION`, not exported). */
export const FIRST_MODERN_VERSION = '2026-07-28';

/**
 * Whether the SDK's era classification (`classifyInboundRequest`) is sure to call this POST legacy (2025 era),
 * decided from its shape alone: a well-formed JSON-RPC request (no other keys) whose params carry no `_meta`
 * (so no 2026-07-28 envelope claim), under no modern `MCP-Protocol-Version` header. The classification
 * validates the body with zod schemas that fail, and build their issues, for every 2025-era request
 * (`isJSONRPCResultResponse` first): this skips that work for the common call. `false` means "ask the SDK".
 * `fast-path.test.ts` (unit) checks it against the SDK on a corpus of bodies and headers.
 */
export function plainLegacyRequest(body: unknown, versionHeader: string | undefined): boolean {
  if (versionHeader !== undefined && versionHeader.trim() >= FIRST_MODERN_VERSION) return false;
  if (!plainObject(body) || !onlyKeys(body, ['jsonrpc', 'id', 'method', 'params'])) return false;
  if (body.jsonrpc !== '2.0' || typeof body.method !== 'string') return false;
  const id = body.id;
  if (!(typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id)))) return false;
  const params = body.params;
  return params === undefined || (plainObject(params) && !('_meta' in params));
}

/**
 * The plain call without the SDK's generic dispatch (a per-request server and transport, message and
 * params schemas, web Request/Response conversion): the same tool call (`callTool`, observed the same
 * way) and the same bytes the SDK writes for it (`{"result":…,"jsonrpc":"2.0","id":…}`, 200,
 * application/json; tests/e2e/calls/fast-path.test.ts compares both on a corpus). The worker's results are
 * already in the SDK's output shape (content, structuredContent, isError). A protocol error (a person's connect link
 * for a session that declared URL-mode elicitation: -32042) is written as the SDK writes a thrown `ProtocolError`.
 */
export async function fastToolsCall(deps: ToolCallDeps, res: Response, call: ToolCall): Promise<void> {
  const result = await observedCall(deps, call);
  if (res.destroyed) return; // the caller went away (the call was cancelled)
  if (result instanceof SerializedToolResult) {
    // The worker's JSON as it came (ADR 0033): the SDK's member order around it.
    const closing = Buffer.from(`,"jsonrpc":"2.0","id":${JSON.stringify(call.requestId)}}`);
    const length = resultOpening.length + result.json.length + closing.length;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': length });
    if (result.json.length < copyBelowBytes) return void res.end(Buffer.concat([resultOpening, result.json, closing]));
    // A large answer is not copied: its parts leave in one write with the head (`end` uncorks the socket).
    res.socket?.cork();
    res.write(resultOpening);
    res.write(result.json);
    res.end(closing);
    return;
  }
  const { protocolError } = result;
  const json = protocolError
    ? JSON.stringify({ jsonrpc: '2.0', id: call.requestId, error: protocolError })
    : JSON.stringify({ result: contentful(result), jsonrpc: '2.0', id: call.requestId });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) }).end(json);
}
