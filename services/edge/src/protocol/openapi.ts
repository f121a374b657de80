import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/**
 * The OpenAPI 3.1 description of the edge's MCP runtime endpoints (seed 002: `McpRequestDto`,
 * `McpJsonRpcResponseDto` "in the API reference"). The edge serves it at `GET /openapi.json`;
 * `docs/edge-openapi.json` is the same text (scripts/gen-openapi.ts writes it, tests/contract/edge-openapi.test.ts
 * fails when it is stale), and tests/e2e/calls/edge-contract.test.ts checks real exchanges of every endpoint
 * against it. The message schemas are zod, turned into JSON Schema 2020-12 by zod itself.
 */

const JsonRpcId = z.union([z.string(), z.number().int()]);

const McpJsonRpcError = z
  .object({
    code: z
      .number()
      .int()
      .describe(
        'JSON-RPC 2.0 / MCP error code: -32700 parse error, -32600 invalid request, -32601 unknown method, -32602 ' +
          'invalid params (an unknown tool), -32603 internal, -32000 unavailable or not allowed (HTTP 503, 405), ' +
          '-32001 authentication or access refused (HTTP 401, 403, and 404 for an unknown session), -32002 unknown ' +
          'server (HTTP 404), -32020 `Mcp-Param-*` headers disagree with the body, -32042 a person has to open a ' +
          'connect link first (URL-mode elicitation: `data.elicitations`, to 2025-11-25 sessions that declared it).',
      ),
    message: z.string(),
    data: z.unknown().optional(),
  })
  .strict();

/** One JSON-RPC 2.0 message a client sends: a request (with `id`) or a notification (without). */
const McpRequestDto = z.looseObject({
  jsonrpc: z.literal('2.0'),
  id: JsonRpcId.optional().describe('The request id; absent for a notification (answered 202 without a body).'),
  method: z
    .string()
    .min(1)
    .describe(
      '`initialize` (2025-era handshake), `ping`, `tools/list`, `tools/call`, `logging/setLevel`, ' +
        '`subscriptions/listen` (2026-07-28), `notifications/initialized`, `notifications/cancelled`, …',
    ),
  params: z
    .record(z.string(), z.unknown())
    .optional()
    .describe(
      'The method’s parameters. `tools/call`: `{ name, arguments?, _meta? }` (`_meta.progressToken` asks for ' +
        'progress notifications, `_meta.traceparent` continues a trace); 2026-07-28 requests carry their envelope ' +
        '(protocol version, client capabilities, log level) in `_meta`.',
    ),
});

/** What the edge answers one request with: a result or an error (also the body of every HTTP error). */
const McpJsonRpcResponseDto = z.union([
  z
    .object({
      jsonrpc: z.literal('2.0'),
      id: JsonRpcId,
      result: z
        .record(z.string(), z.unknown())
        .describe(
          'The method’s result. `tools/call`: `{ content: [...], structuredContent?, isError? }`, a failed tool ' +
            'being a result with `isError: true`; `tools/list`: `{ tools: [...] }` (name, description, inputSchema, …).',
        ),
    })
    .strict(),
  z
    .object({
      jsonrpc: z.literal('2.0'),
      id: JsonRpcId.nullable().describe('null when the request could not be read or was refused before routing.'),
      error: McpJsonRpcError,
    })
    .strict(),
]);

const registry = z.registry<{ id: string; description?: string }>();
registry.add(JsonRpcId, { id: 'McpJsonRpcId', description: 'A JSON-RPC request id: a string or an integer.' });
registry.add(McpJsonRpcError, { id: 'McpJsonRpcError', description: 'The `error` of a JSON-RPC error response.' });
registry.add(McpRequestDto, {
  id: 'McpRequestDto',
  description:
    'One MCP JSON-RPC 2.0 message from the client (request or notification). Batches (arrays) are not accepted.',
});
registry.add(McpJsonRpcResponseDto, {
  id: 'McpJsonRpcResponseDto',
  description: 'One MCP JSON-RPC 2.0 response: `result`, or `error` (the body of every HTTP error of the edge).',
});

/** The components, as JSON Schema 2020-12 with `#/components/schemas/…` references. */
function schemas(): Record<string, object> {
  const { schemas: out } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
    io: 'input',
  });
  return Object.fromEntries(
    Object.entries(out).map(([id, schema]) => {
      const { $schema: _schema, $id: _id, ...rest } = schema as Record<string, unknown>;
      return [id, rest];
    }),
  );
}

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const jsonRpc = { 'application/json': { schema: ref('McpJsonRpcResponseDto') } };
const sse = (what: string) => ({ 'text/event-stream': { schema: { type: 'string', description: what } } });
const error = (description: string, headers?: Record<string, unknown>) => ({
  description,
  content: jsonRpc,
  ...(headers ? { headers } : {}),
});
const retryAfter = { 'retry-after': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } } };
const challenge = {
  'www-authenticate': {
    description:
      '`ApiKey header="x-api-key"`, or with OAuth configured a `Bearer resource_metadata="…"` challenge (RFC 9728).',
    schema: { type: 'string' },
  },
};

const serverId = {
  name: 'serverId',
  in: 'path',
  required: true,
  description: 'The MCP server’s id (the `url` of `GET /api/v1/mcp_manager/{id}` ends with it).',
  schema: { type: 'string' },
};
const header = (name: string, description: string) => ({
  name,
  in: 'header',
  required: false,
  description,
  schema: { type: 'string' },
});
/** Headers every MCP request may carry (credentials are the security schemes). */
const callHeaders = [
  header(
    'x-username',
    'Run tools with this external user’s own connections (docs/api.md, "External users"); an unknown user is a 403.',
  ),
  header(
    'X-Upstream-Authorization',
    'The caller’s own credential for the upstream API of a connector or OpenAPI tool, used for this call instead ' +
      'of the stored credentials, on servers with `perRequestAuth` (refused as a tool error elsewhere). Never ' +
      'recorded (docs/api.md, "Per-request authentication").',
  ),
  header('traceparent', 'W3C trace context: the call’s spans continue this trace.'),
];
const streamableHeaders = [
  header(
    'MCP-Protocol-Version',
    'The negotiated protocol version (2025 era), or `2026-07-28`; an unsupported one is a 400.',
  ),
  header(
    'Mcp-Session-Id',
    '2025 era: the id answered to `initialize` (optional; scopes `logging/setLevel` and cancellation).',
  ),
  header('Mcp-Method', '2026-07-28: the message’s method (must agree with the body).'),
  header(
    'Mcp-Name',
    '2026-07-28: the `params.name` of a `tools/call` or `prompts/get`, the `params.uri` of a `resources/read` (must ' +
      'agree with the body; required there: 400 / -32020 when missing or different).',
  ),
  header('Accept', 'Must accept both `application/json` and `text/event-stream` (406 otherwise).'),
];

/** Statuses of an MCP POST refused before or by the protocol layer. */
const postErrors = {
  400: error(
    'The body is not JSON (-32700), not a JSON-RPC message (-32600: nested over 64 levels, a bad id, a batch), an ' +
      'unsupported `MCP-Protocol-Version`, or `Mcp-Method`, `Mcp-Name` or `Mcp-Param-*` headers missing or ' +
      'disagreeing with the body (-32020).',
  ),
  401: error(
    'No credential for a server that is not public, an invalid key or token, or a DPoP-bound token (`cnf.jkt`) ' +
      'without a valid proof of its key (`WWW-Authenticate: DPoP`).',
    challenge,
  ),
  403: error(
    'An `Origin` not in `ALLOWED_ORIGINS`, a key without the `runtime` scope, an unknown `x-username`, a token ' +
      'without the required scope, or no access policy granting the server.',
  ),
  404: error('No such server in the caller’s workspace.'),
  406: error('The `Accept` header does not accept both `application/json` and `text/event-stream`.'),
  413: error('The body exceeds `MAX_BODY_BYTES`.'),
  415: error('The body is not `application/json`.'),
  429: error('Too many unauthenticated requests from this address.', retryAfter),
  500: error('A bug; details are logged.'),
  503: error(
    'Redis is unreachable or its state is being restored (a `tools/call` gets an `isError` result instead).',
    retryAfter,
  ),
};

/** `POST /mcp/{serverId}` and `POST /api/v1/mcp/{serverId}`: the same Streamable HTTP endpoint. */
const streamablePost = (operationId: string, summary: string) => ({
  operationId,
  tags: ['mcp runtime'],
  summary,
  description:
    'MCP over Streamable HTTP, stateless (any edge serves any request): 2026-07-28 requests (per-request ' +
    'envelope) and 2025-era ones (`initialize` handshake, an `Mcp-Session-Id` nothing requires). A request is ' +
    'answered with one JSON-RPC response, as JSON, or as an event stream when notifications come first ' +
    '(`notifications/progress` for a `_meta.progressToken`, relayed log messages, and `subscriptions/listen`, which ' +
    'stays open); a notification or a response from the client is answered 202. Tool failures are results with ' +
    '`isError: true`, an unknown tool is the JSON-RPC error -32602 (docs/api.md, "MCP runtime"). Workflow tools also ' +
    'read any number of `Config-<Name>` headers (`$config.<name>`, docs/workflows.md).',
  parameters: [serverId, ...callHeaders, ...streamableHeaders],
  requestBody: { required: true, content: { 'application/json': { schema: ref('McpRequestDto') } } },
  responses: {
    200: {
      description: 'The JSON-RPC response, or an event stream of JSON-RPC messages ending with it.',
      content: {
        ...jsonRpc,
        ...sse(
          '`event: message` / `data: <JSON-RPC message>` lines: notifications of the call, then its response ' +
            '(`McpJsonRpcResponseDto`).',
        ),
      },
      headers: {
        'mcp-session-id': {
          description: '2025 era, on `initialize` only: a session id any edge accepts.',
          schema: { type: 'string' },
        },
      },
    },
    202: { description: 'A notification (or a response) was accepted; no body.' },
    ...postErrors,
  },
});

/** An OAuth error answer (RFC 6749 §5.2). */
const oauthError = {
  type: 'object',
  required: ['error', 'error_description'],
  properties: { error: { type: 'string' }, error_description: { type: 'string' } },
};

const paths = {
  '/mcp/{serverId}': {
    post: streamablePost('postMcp', 'Send an MCP JSON-RPC message (Streamable HTTP)'),
    get: {
      operationId: 'openMcpSessionStream',
      tags: ['mcp runtime'],
      summary: 'Open a 2025-era session’s stream of resource updates',
      description:
        'For a server whose attached external MCP servers take resource subscriptions: with the `Mcp-Session-Id` ' +
        'an `initialize` gave and `Accept: text/event-stream`, a stream that carries ' +
        '`notifications/resources/updated` for the resources the session subscribed to (`resources/subscribe`). ' +
        'It ends when the credential no longer reaches the server. Any other GET answers 405.',
      parameters: [serverId, header('mcp-session-id', 'The session id `initialize` gave.')],
      responses: {
        200: {
          description: 'The session’s event stream.',
          content: sse('`event: message` / `data: <JSON-RPC notification>`.'),
        },
        401: postErrors[401],
        403: postErrors[403],
        404: postErrors[404],
        405: error('No stream to open: no session id, or the server offers no resource subscriptions.'),
        429: postErrors[429],
        500: postErrors[500],
        503: error('Redis (or its pub/sub connection) is unreachable.', retryAfter),
      },
    },
  },
  '/api/v1/mcp/{serverId}': {
    post: streamablePost('postMcpV1', 'Send an MCP JSON-RPC message (Streamable HTTP; seed 002 path)'),
    get: {
      operationId: 'openLegacySseStream',
      tags: ['mcp runtime'],
      summary: 'Open a legacy HTTP+SSE session (MCP 2024-11-05)',
      description:
        'The first event, `endpoint`, names the URL to POST messages to (`/api/v1/mcp/{serverId}/messages?sessionId=…`); ' +
        'every response and notification then arrives on this stream as `event: message`, with a comment every 15 s. ' +
        'Send the same credentials on the GET and on every POST. Sessions live in one edge process (sticky routing). ' +
        'The stream ends when the server is deleted or its credential no longer reaches the server.',
      parameters: [serverId, header('x-username', callHeaders[0]!.description)],
      responses: {
        200: {
          description: 'The session’s event stream.',
          content: sse('`event: endpoint` / `data: <POST URL>`, then `event: message` / `data: <JSON-RPC message>`.'),
        },
        401: postErrors[401],
        403: postErrors[403],
        404: postErrors[404],
        429: postErrors[429],
        500: postErrors[500],
        503: error('Redis (or its pub/sub connection) is unreachable.', retryAfter),
      },
    },
  },
  '/api/v1/mcp/{serverId}/messages': {
    post: {
      operationId: 'postLegacySseMessage',
      tags: ['mcp runtime'],
      summary: 'Send a message to a legacy HTTP+SSE session',
      description:
        'Answered 202 at once; the response arrives on the session’s stream. Each POST is served with its own ' +
        'headers (`Config-*`, `X-Upstream-Authorization`) and the server’s current catalog.',
      parameters: [
        serverId,
        {
          name: 'sessionId',
          in: 'query',
          required: true,
          description: 'From the stream’s `endpoint` event.',
          schema: { type: 'string' },
        },
        ...callHeaders,
      ],
      requestBody: { required: true, content: { 'application/json': { schema: ref('McpRequestDto') } } },
      responses: {
        202: { description: 'Accepted; the response arrives on the stream.' },
        400: error('The body is not JSON (-32700) or not a JSON-RPC message (-32600).'),
        401: postErrors[401],
        403: postErrors[403],
        404: error(
          'No such server, or an unknown or expired session (or one opened with other credentials): open a new stream.',
        ),
        413: postErrors[413],
        429: postErrors[429],
        500: postErrors[500],
        503: postErrors[503],
      },
    },
  },
  '/oauth/token-exchange': {
    post: {
      operationId: 'exchangeToken',
      tags: ['tokens'],
      summary: 'A narrowed token for a sub-agent (RFC 8693 token exchange)',
      description:
        'Trades an API key with the `runtime` scope, or a narrowed token, for a short-lived token of fewer rights: ' +
        'one RFC 9396 `authorization_details` entry of type `toolplane_delegation` (servers, tools, a CEL ' +
        '`condition`, `calls`, `expires_in` ≤ 3600, `actor`). It can only narrow: more than the subject has is ' +
        '`invalid_target` (servers, tools) or `invalid_request` (calls, lifetime). The token is a bearer token for ' +
        'the MCP endpoints; it fails once its API key is revoked (ADR 0084, docs/identity.md "Narrowed tokens for sub-agents"). ' +
        'With a `DPoP` proof (RFC 9449) the token is bound to the proof’s key (`token_type: DPoP`): each MCP request ' +
        'then sends `Authorization: DPoP <token>` and a fresh proof of that key, and so does each exchange of it.',
      security: [],
      parameters: [
        {
          name: 'DPoP',
          in: 'header',
          required: false,
          description: 'A DPoP proof (RFC 9449 §4) for this request: binds the token made to its key.',
          schema: { type: 'string' },
        },
      ],
      requestBody: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': {
            schema: {
              type: 'object',
              required: ['grant_type', 'subject_token', 'subject_token_type'],
              properties: {
                grant_type: { type: 'string', const: 'urn:ietf:params:oauth:grant-type:token-exchange' },
                subject_token: { type: 'string', description: 'An API key, or a narrowed token (`tpd_…`).' },
                subject_token_type: {
                  type: 'string',
                  enum: [
                    'urn:toolplane:params:oauth:token-type:api_key',
                    'urn:ietf:params:oauth:token-type:access_token',
                  ],
                },
                requested_token_type: { type: 'string', const: 'urn:ietf:params:oauth:token-type:access_token' },
                authorization_details: {
                  type: 'string',
                  description:
                    'JSON: `[{ "type": "toolplane_delegation", servers?, tools?, condition?, calls?, expires_in?, actor? }]`.',
                },
              },
            },
          },
        },
      },
      responses: {
        200: {
          description: 'The narrowed token (RFC 8693 §2.2.1), with what it may do; shown once.',
          headers: { 'cache-control': { schema: { type: 'string', const: 'no-store' } } },
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['access_token', 'issued_token_type', 'token_type', 'expires_in', 'authorization_details'],
                properties: {
                  access_token: { type: 'string' },
                  issued_token_type: { type: 'string', const: 'urn:ietf:params:oauth:token-type:access_token' },
                  token_type: { type: 'string', enum: ['Bearer', 'DPoP'] },
                  expires_in: { type: 'integer' },
                  authorization_details: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['type', 'actor', 'actors', 'token_id'],
                      properties: {
                        type: { type: 'string', const: 'toolplane_delegation' },
                        servers: { type: 'array', items: { type: 'string' } },
                        tools: { type: 'array', items: { type: 'string' } },
                        conditions: { type: 'array', items: { type: 'string' } },
                        calls: { type: 'integer' },
                        actor: { type: 'string' },
                        actors: {
                          type: 'array',
                          items: { type: 'string' },
                          description: 'The chain of actors, root first: `api_key:<key id>`, then each holder.',
                        },
                        token_id: { type: 'string' },
                      },
                    },
                  },
                },
              },
            },
          },
        },
        400: {
          description:
            'Refused (RFC 8693 §2.2.2, RFC 6749 §5.2): `unsupported_grant_type`, `invalid_request` (a bad subject, ' +
            'more calls or a longer life than it has), `invalid_target` (servers or tools beyond it), ' +
            '`invalid_authorization_details`, `invalid_dpop_proof` (a bad proof, or none or another key’s for a ' +
            'bound subject token). A refused subject token counts against the address’s budget of ' +
            'unauthenticated requests (`UNAUTH_RATE_LIMIT`).',
          content: { 'application/json': { schema: oauthError } },
        },
        429: {
          description: 'The address spent its budget of unauthenticated requests: `slow_down`, with `Retry-After`.',
          headers: { 'retry-after': { schema: { type: 'string' } } },
          content: { 'application/json': { schema: oauthError } },
        },
      },
    },
  },
  '/oauth/revoke': {
    post: {
      operationId: 'revokeToken',
      tags: ['tokens'],
      summary: 'Revoke one narrowed token and every token narrowed from it (RFC 7009)',
      description:
        'The token and its descendants fail on their next call, on every edge; the API key it came from keeps ' +
        'working. The client authenticates with the token itself (its holder gives it up, no other credential sent), ' +
        'with the API key it was narrowed from (`x-api-key`), or with a narrowed token it was narrowed from ' +
        '(`Authorization: Bearer`). An unknown, expired or already revoked token is answered 200 too (RFC 7009 §2.2). ' +
        'Each revocation is a `token.revoked` audit event (ADR 0084, docs/identity.md "Revoking one").',
      security: [],
      parameters: [
        {
          name: 'x-api-key',
          in: 'header',
          required: false,
          description: 'The API key the token was narrowed from.',
          schema: { type: 'string' },
        },
      ],
      requestBody: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': {
            schema: {
              type: 'object',
              required: ['token'],
              properties: {
                token: { type: 'string', description: 'The narrowed token (`tpd_…`).' },
                token_type_hint: { type: 'string', description: 'Ignored (RFC 7009 §2.1).' },
              },
            },
          },
        },
      },
      responses: {
        200: { description: 'Revoked, or nothing to revoke.' },
        400: {
          description: '`invalid_request`: no `token`.',
          content: { 'application/json': { schema: oauthError } },
        },
        401: {
          description:
            '`invalid_client`: the credential sent is neither the token’s API key nor a token it was narrowed from ' +
            '(counts against the address’s budget of unauthenticated requests).',
          content: { 'application/json': { schema: oauthError } },
        },
        429: {
          description: 'The address spent its budget of unauthenticated requests: `slow_down`, with `Retry-After`.',
          headers: { 'retry-after': { schema: { type: 'string' } } },
          content: { 'application/json': { schema: oauthError } },
        },
      },
    },
  },
  '/openapi.json': {
    get: {
      operationId: 'getEdgeOpenApiDocument',
      tags: ['meta'],
      summary: 'This document',
      security: [],
      responses: {
        200: {
          description: 'The OpenAPI 3.1 description of the edge’s MCP endpoints.',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
      },
    },
  },
};

/** Where the committed copy lives (scripts/gen-openapi.ts writes it). */
export const edgeOpenApiDocumentPath = fileURLToPath(new URL('../../../../docs/edge-openapi.json', import.meta.url));

/** The document: MCP runtime endpoints of the edge, with `McpRequestDto` and `McpJsonRpcResponseDto`. */
export function edgeOpenApiDocument() {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Toolplane MCP runtime (edge)',
      version: '1.0.0',
      description:
        'The edge’s MCP endpoints: Streamable HTTP (`/mcp/{serverId}`, and `/api/v1/mcp/{serverId}` as seed 002 names ' +
        'it) and the legacy HTTP+SSE pair (`GET /api/v1/mcp/{serverId}`, `POST /api/v1/mcp/{serverId}/messages`). ' +
        'Every message is JSON-RPC 2.0 (`McpRequestDto` in, `McpJsonRpcResponseDto` out); MCP itself is specified at ' +
        'modelcontextprotocol.io. The management API is described separately (`/api/v1/openapi.json` on the ' +
        'control plane, docs/openapi.json).',
    },
    servers: [{ url: '/', description: 'The edge (`toolplane dev`: http://127.0.0.1:8080)' }],
    security: [{ apiKey: [] }, { oauthToken: [] }, {}],
    tags: [
      { name: 'mcp runtime', description: 'MCP clients list and call the tools of one MCP server.' },
      { name: 'tokens', description: 'Narrowed tokens for sub-agents (ADR 0084).' },
      { name: 'meta', description: 'This description.' },
    ],
    paths,
    components: {
      schemas: schemas(),
      securitySchemes: {
        apiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'x-api-key',
          description: 'A workspace API key with the `runtime` scope. Public servers (`isPublic`) need no credential.',
        },
        oauthToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'An access token of the configured issuer (`OAUTH_ISSUER`) whose audience is the server’s URL, with ' +
            '`OAUTH_REQUIRED_SCOPE`; metadata at `/.well-known/oauth-protected-resource/mcp/{serverId}` (RFC 9728). ' +
            'Or one of the edges’ own authorization server (ADR 0082: `<PUBLIC_URL>/oauth/token` redeems an ' +
            'enterprise IdP’s ID-JAG), bound to the server’s URL.',
        },
      },
    },
  };
}

/** The document as committed and served: JSON, two-space indented, with a final newline. */
export function edgeOpenApiDocumentText(): string {
  return JSON.stringify(edgeOpenApiDocument(), null, 2) + '\n';
}
