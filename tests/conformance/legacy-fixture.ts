// The suite's 2025-era tools that ask the client for input in the middle of a call (sampling/createMessage,
// elicitation/create), served by a stateful 2025-11-25 server on the v1 SDK, as most external MCP servers are today:
// its session keeps the call's stream open while the request goes to the client. Toolplane's conformance profile
// attaches it next to fixture-server.ts, so the suite's client is asked through edge → queue → worker → this server
// and its answer travels back the same way (ADR 0041, "Requests relayed during a call").
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';

const noArgs = { type: 'object', properties: {} } as const;
const tools = [
  {
    name: 'test_sampling',
    description: 'Asks the client for an LLM completion',
    inputSchema: { type: 'object', properties: { prompt: { type: 'string' } }, required: ['prompt'] },
  },
  {
    name: 'test_elicitation',
    description: 'Asks the user for input',
    inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
  },
  { name: 'test_elicitation_sep1034_defaults', description: 'Elicitation with default values', inputSchema: noArgs },
  { name: 'test_elicitation_sep1330_enums', description: 'Elicitation with enum schemas', inputSchema: noArgs },
];

type Schema = Record<string, unknown>;
const schemas: Record<string, Schema> = {
  test_elicitation: {
    type: 'object',
    properties: {
      username: { type: 'string', description: "User's response" },
      email: { type: 'string', description: "User's email address" },
    },
    required: ['username', 'email'],
  },
  test_elicitation_sep1034_defaults: {
    type: 'object',
    properties: {
      name: { type: 'string', default: 'John Doe' },
      age: { type: 'integer', default: 30 },
      score: { type: 'number', default: 95.5 },
      status: { type: 'string', enum: ['active', 'inactive', 'pending'], default: 'active' },
      verified: { type: 'boolean', default: true },
    },
  },
  test_elicitation_sep1330_enums: {
    type: 'object',
    properties: {
      untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
      titledSingle: {
        type: 'string',
        oneOf: [
          { const: 'value1', title: 'First Option' },
          { const: 'value2', title: 'Second Option' },
          { const: 'value3', title: 'Third Option' },
        ],
      },
      legacyEnum: {
        type: 'string',
        enum: ['opt1', 'opt2', 'opt3'],
        enumNames: ['Option One', 'Option Two', 'Option Three'],
      },
      untitledMulti: { type: 'array', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
      titledMulti: {
        type: 'array',
        items: {
          anyOf: [
            { const: 'value1', title: 'First Choice' },
            { const: 'value2', title: 'Second Choice' },
            { const: 'value3', title: 'Third Choice' },
          ],
        },
      },
    },
  },
};

const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });

function serverFor(): Server {
  const server = new Server({ name: 'conformance-legacy-fixture', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const { name, arguments: args = {} } = req.params;
    // As the suite asks: a client without the capability gets an error result.
    if (name === 'test_sampling') {
      if (!server.getClientCapabilities()?.sampling) return { ...text('The client cannot sample'), isError: true };
      const r = await server.createMessage({
        messages: [{ role: 'user', content: { type: 'text', text: String(args.prompt) } }],
        maxTokens: 100,
      });
      return text(`LLM response: ${JSON.stringify(r.content)}`);
    }
    const schema = schemas[name];
    if (!schema) return { ...text(`Unknown tool: ${name}`), isError: true };
    if (!server.getClientCapabilities()?.elicitation) return { ...text('The client cannot be asked'), isError: true };
    const message = String(args.message ?? 'Please provide your information');
    const r = await server.elicitInput({ message, requestedSchema: schema as never });
    if (name === 'test_elicitation') return text(`User response: ${JSON.stringify(r)}`);
    return text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
  });
  return server;
}

export interface LegacyFixture {
  url: string;
  close(): Promise<void>;
}

/** A stateful Streamable HTTP server: a session (and its server) per `initialize`, kept until the client ends it. */
export async function startLegacyFixture(): Promise<LegacyFixture> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? sessions.get(id) : undefined;
    if (!transport) {
      if (id !== undefined) return void res.writeHead(404).end();
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => void sessions.set(sid, created),
      });
      created.onclose = () => {
        if (created.sessionId) sessions.delete(created.sessionId);
      };
      await serverFor().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res);
  };
  const http: HttpServer = createServer((req, res) => void handle(req, res).catch(() => res.writeHead(500).end()));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
