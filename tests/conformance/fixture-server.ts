// The tools the official MCP conformance suite (@modelcontextprotocol/conformance, server scenarios)
// calls, served by a plain SDK server. The conformance profile of Toolplane aggregates this server as an
// external MCP server (`externalMcpConfigs`): the suite talks to the real edge, every call goes through
// the queue and the worker, which proxies it here, so content, errors, progress and log messages cross
// the whole platform, as do its resources, resource templates, prompts and completions. The 2025-era tools
// that ask the client mid-call (sampling, elicitation) live on a stateful 2025 server (legacy-fixture.ts). The
// 2026-07-28 tools (suite 0.2.0 alpha) ask for input through `input_required` results, which Toolplane relays.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, randomBytes } from 'node:crypto';
import {
  createMcpHandler,
  InMemoryServerEventBus,
  INVALID_PARAMS,
  ProtocolError,
  Server,
  type CallToolResult,
  type ListToolsResult,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { taskTool, taskTools } from './task-fixture-tools.ts';

// 1×1 PNG and a tiny WAV (RIFF header, no samples).
const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const wav = 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=';

const noArgs = { type: 'object', properties: {} } as const;
const tools = [
  { name: 'test_simple_text', description: 'Returns a simple text response', inputSchema: noArgs },
  { name: 'test_image_content', description: 'Returns image content', inputSchema: noArgs },
  { name: 'test_audio_content', description: 'Returns audio content', inputSchema: noArgs },
  { name: 'test_embedded_resource', description: 'Returns an embedded resource', inputSchema: noArgs },
  { name: 'test_multiple_content_types', description: 'Returns text, image and resource content', inputSchema: noArgs },
  { name: 'test_tool_with_logging', description: 'Sends three log messages while it runs', inputSchema: noArgs },
  { name: 'test_error_handling', description: 'Always fails', inputSchema: noArgs },
  { name: 'test_tool_with_progress', description: 'Reports progress 0, 50, 100 of 100', inputSchema: noArgs },
  // Not a suite tool: Toolplane's own check that a cancelled call cancels the external server's call.
  { name: 'slow_cancellable', description: 'Runs for five seconds unless cancelled', inputSchema: noArgs },
  {
    // The suite's schema (SEP-1613, and SEP-2106's $anchor, allOf/anyOf and if/then/else from 2026-07-28).
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: {
        address: {
          $anchor: 'addressDef',
          type: 'object',
          properties: { street: { type: 'string' }, city: { type: 'string' } },
        },
      },
      properties: {
        name: { type: 'string' },
        address: { $ref: '#/$defs/address' },
        contactMethod: { type: 'string', enum: ['phone', 'email'] },
        phone: { type: 'string' },
        email: { type: 'string' },
      },
      allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
      if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
      then: { required: ['phone'] },
      else: { required: ['email'] },
      additionalProperties: false,
    },
  },
  // 2026-07-28 (SEP-2322): tools that ask the client for input through an `input_required` result.
  ...[
    'test_input_required_result_elicitation',
    'test_input_required_result_sampling',
    'test_input_required_result_list_roots',
    'test_input_required_result_request_state',
    'test_input_required_result_multiple_inputs',
    'test_input_required_result_multi_round',
    'test_input_required_result_tampered_state',
    'test_input_required_result_capabilities',
  ].map((name) => ({
    name,
    description: 'Asks the client for input through an input_required result',
    inputSchema: noArgs,
  })),
  // 2026-07-28 (SEP-2575, server-stateless): diagnostic tools.
  {
    name: 'test_missing_capability',
    description: 'Needs sampling (input_required): refused when the client did not declare it',
    inputSchema: noArgs,
  },
  {
    name: 'test_streaming_elicitation',
    description: 'Asks for input through an input_required result, never a server-to-client request',
    inputSchema: noArgs,
  },
  { name: 'test_logging_tool', description: 'Sends three log messages while it runs', inputSchema: noArgs },
  // Adds `test_dynamic_tool` to this server's list, then changes its description: every call is a
  // change (the suite calls it three times within a few milliseconds, so a toggle could cancel out).
  // The control plane's refresh (EXTERNAL_TOOLS_REFRESH_SECONDS, 0.5 s in conformance.test.ts)
  // publishes the new list, and listen streams get tools/list_changed (ADR 0012).
  { name: 'test_trigger_tool_change', description: "Changes this server's tool list", inputSchema: noArgs },
  { name: 'test_trigger_prompt_change', description: "Changes this server's prompt list", inputSchema: noArgs },
  // 2026-07-28 (SEP-2243): an argument mirrored into the `Mcp-Param-Region` header, which the server checks.
  {
    name: 'test_custom_header',
    description: 'Echoes its region argument, which clients mirror into the Mcp-Param-Region header',
    inputSchema: {
      type: 'object',
      properties: { region: { type: 'string', 'x-mcp-header': 'Region' } },
      required: ['region'],
    },
  },
  // SEP-2663 (Tasks extension): the tools the tasks-* scenarios call (task-fixture-tools.ts).
  ...taskTools,
];

// SEP-2322 multi-round-trip: the state a tool hands the client is HMAC-signed, so a tampered one is refused.
const stateKey = randomBytes(32);
const mac = (payload: string) => createHmac('sha256', stateKey).update(payload).digest('base64url');
const signState = (payload: string) => `${Buffer.from(payload).toString('base64url')}.${mac(payload)}`;
function verifyState(state: unknown): string | undefined {
  if (typeof state !== 'string') return undefined;
  const [encoded, tag] = state.split('.');
  if (!encoded || !tag) return undefined;
  const payload = Buffer.from(encoded, 'base64url').toString();
  return mac(payload) === tag ? payload : undefined;
}
const askName = (message: string, property = 'name') => ({
  method: 'elicitation/create',
  params: {
    message,
    requestedSchema: { type: 'object', properties: { [property]: { type: 'string' } }, required: [property] },
  },
});
const askLlm = (text: string, maxTokens: number) => ({
  method: 'sampling/createMessage',
  params: { messages: [{ role: 'user', content: { type: 'text', text } }], maxTokens },
});
const askRoots = { method: 'roots/list', params: {} };
const inputRequired = (inputRequests: Record<string, unknown>, requestState?: string) =>
  ({
    resultType: 'input_required',
    inputRequests,
    ...(requestState ? { requestState } : {}),
  }) as unknown as CallToolResult;
const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const badState = () => new ProtocolError(INVALID_PARAMS, 'requestState failed its integrity check');

/** The SEP-2322 tools: round 1 asks, a retry with the answers (and the echoed state) completes. */
function multiRound(
  name: string,
  responses: unknown,
  state: unknown,
  capabilities: Record<string, unknown> | undefined,
): CallToolResult {
  const r = isObject(responses) ? responses : {};
  switch (name) {
    case 'test_input_required_result_elicitation': {
      const answer = r.user_name;
      if (!isObject(answer) || typeof answer.action !== 'string')
        return inputRequired({ user_name: askName('What is your name?') });
      return text(`Hello, ${String(answer.content?.name ?? 'stranger')}!`);
    }
    case 'test_input_required_result_sampling': {
      const answer = r.capital_question;
      if (!isObject(answer)) return inputRequired({ capital_question: askLlm('What is the capital of France?', 100) });
      return text(`The model said: ${String(answer.content?.text ?? JSON.stringify(answer.content))}`);
    }
    case 'test_input_required_result_list_roots': {
      const answer = r.client_roots;
      if (!isObject(answer) || !Array.isArray(answer.roots)) return inputRequired({ client_roots: askRoots });
      return text(`Roots: ${answer.roots.map((root: { uri?: unknown }) => String(root.uri)).join(', ')}`);
    }
    case 'test_input_required_result_request_state': {
      const ask = () =>
        inputRequired(
          {
            confirm: {
              method: 'elicitation/create',
              params: {
                message: 'Please confirm',
                requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
              },
            },
          },
          signState('confirm'),
        );
      if (!isObject(r.confirm)) return ask();
      if (verifyState(state) !== 'confirm') throw badState();
      return text('Confirmed: state-ok');
    }
    case 'test_input_required_result_multiple_inputs': {
      if (!isObject(r.user_name) || !isObject(r.greeting) || !isObject(r.client_roots)) {
        return inputRequired(
          {
            user_name: askName('What is your name?'),
            greeting: askLlm('Generate a greeting', 50),
            client_roots: askRoots,
          },
          signState('multiple'),
        );
      }
      if (verifyState(state) !== 'multiple') throw badState();
      return text(`Hello, ${String(r.user_name.content?.name ?? 'stranger')}: all three inputs received`);
    }
    case 'test_input_required_result_multi_round': {
      const round = verifyState(state);
      if (round === 'round-1' && isObject(r.step1))
        return inputRequired({ step2: askName('Step 2: What is your favorite color?', 'color') }, signState('round-2'));
      if (round === 'round-2' && isObject(r.step2)) return text(`Done: ${String(r.step2.content?.color ?? '?')}`);
      if (state !== undefined && round === undefined) throw badState();
      return inputRequired({ step1: askName('Step 1: What is your name?') }, signState('round-1'));
    }
    case 'test_input_required_result_tampered_state': {
      if (state === undefined) return inputRequired({ confirm: askName('Please confirm') }, signState('tamper-check'));
      if (verifyState(state) !== 'tamper-check') throw badState();
      return text('State verified');
    }
    case 'test_missing_capability':
      return Object.keys(r).length > 0
        ? text('Sampled')
        : inputRequired({ capital_question: askLlm('What is the capital of France?', 100) });
    case 'test_streaming_elicitation':
      return Object.keys(r).length > 0 ? text('Elicited') : inputRequired({ user_name: askName('What is your name?') });
    case 'test_input_required_result_capabilities': {
      if (Object.keys(r).length > 0) return text('Inputs received');
      const asks: Record<string, unknown> = {};
      if (capabilities?.elicitation) asks.user_name = askName('What is your name?');
      if (capabilities?.sampling) asks.capital_question = askLlm('What is the capital of France?', 100);
      if (capabilities?.roots) asks.client_roots = askRoots;
      return Object.keys(asks).length > 0
        ? inputRequired(asks)
        : text('The client declared no capability to ask input with');
    }
    default:
      return { isError: true, content: [{ type: 'text', text: `Unknown tool: ${name}` }] };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });

async function call(
  name: string,
  args: Record<string, unknown>,
  ctx: ServerContext,
  events: string[],
): Promise<CallToolResult> {
  switch (name) {
    case 'slow_cancellable': {
      events.push('started');
      const signal = ctx.mcpReq.signal;
      const finished = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(true), 5000);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve(false)), { once: true });
      });
      events.push(finished ? 'completed' : 'aborted');
      return text('slow done');
    }
    case 'test_simple_text':
      return text('This is a simple text response for testing.');
    case 'test_image_content':
      return { content: [{ type: 'image', data: png, mimeType: 'image/png' }] };
    case 'test_audio_content':
      return { content: [{ type: 'audio', data: wav, mimeType: 'audio/wav' }] };
    case 'test_embedded_resource':
      return {
        content: [
          {
            type: 'resource',
            resource: {
              uri: 'test://embedded-resource',
              mimeType: 'text/plain',
              text: 'This is an embedded resource content.',
            },
          },
        ],
      };
    case 'test_multiple_content_types':
      return {
        content: [
          { type: 'text', text: 'Multiple content types test:' },
          { type: 'image', data: png, mimeType: 'image/png' },
          {
            type: 'resource',
            resource: {
              uri: 'test://mixed-content-resource',
              mimeType: 'application/json',
              text: '{"test":"data","value":123}',
            },
          },
        ],
      };
    case 'test_tool_with_logging':
    case 'test_logging_tool':
      await ctx.mcpReq.log('info', 'Tool execution started', 'fixture');
      await sleep(50);
      await ctx.mcpReq.log('info', 'Tool processing data', 'fixture');
      await sleep(50);
      await ctx.mcpReq.log('info', 'Tool execution completed', 'fixture');
      return text('Tool with logging executed successfully');
    case 'test_error_handling':
      return {
        isError: true,
        content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }],
      };
    case 'test_tool_with_progress': {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined)
          await ctx.mcpReq.notify({
            method: 'notifications/progress',
            params: { progressToken, progress, total: 100 },
          });
        if (progress < 100) await sleep(50);
      }
      return text('Tool with progress executed successfully');
    }
    case 'json_schema_2020_12_tool':
      return text(`Received: ${JSON.stringify(args)}`);
    case 'test_custom_header':
      return text(`Region: ${String(args.region)}`);
    default:
      return { isError: true, content: [{ type: 'text', text: `Unknown tool: ${name}` }] };
  }
}

// The suite's resources, templates and prompts, offered by the external server and served through Toolplane.
const resources = [
  { uri: 'test://static-text', name: 'static-text', description: 'A static text resource', mimeType: 'text/plain' },
  { uri: 'test://static-binary', name: 'static-binary', description: 'A static PNG image', mimeType: 'image/png' },
  {
    uri: 'test://watched-resource',
    name: 'watched-resource',
    description: 'A resource one may subscribe to',
    mimeType: 'text/plain',
  },
];
const resourceTemplates = [
  {
    uriTemplate: 'test://template/{id}/data',
    name: 'template-data',
    description: 'Data for an id',
    mimeType: 'application/json',
  },
];
const prompts = [
  { name: 'test_simple_prompt', description: 'A simple prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
  },
  {
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt embedding a resource',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
  },
  { name: 'test_prompt_with_image', description: 'A prompt with an image' },
  // 2026-07-28 (SEP-2322): a prompt that asks the client for input through an `input_required` result.
  { name: 'test_input_required_result_prompt', description: 'A prompt that asks for context first' },
];

function readResource(uri: string) {
  if (uri === 'test://static-text')
    return { contents: [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }] };
  if (uri === 'test://static-binary') return { contents: [{ uri, mimeType: 'image/png', blob: png }] };
  if (uri === 'test://watched-resource') return { contents: [{ uri, mimeType: 'text/plain', text: 'Watched.' }] };
  const id = /^test:\/\/template\/([^/]+)\/data$/.exec(uri)?.[1];
  if (id)
    return {
      contents: [
        {
          uri,
          mimeType: 'application/json',
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
        },
      ],
    };
  throw new ProtocolError(INVALID_PARAMS, `Resource not found: ${uri}`, { uri });
}

function getPrompt(name: string, args: Record<string, string>, responses: unknown) {
  const user = (content: Record<string, unknown>) => ({ role: 'user' as const, content });
  switch (name) {
    case 'test_input_required_result_prompt': {
      const answer = isObject(responses) ? Object.values(responses)[0] : undefined;
      if (!isObject(answer))
        return inputRequired({ context: askName('What context should the prompt use?', 'context') });
      return { messages: [user({ type: 'text', text: `Prompt with context: ${JSON.stringify(answer.content)}` })] };
    }
    case 'test_simple_prompt':
      return { messages: [user({ type: 'text', text: 'This is a simple prompt for testing.' })] };
    case 'test_prompt_with_arguments':
      return {
        messages: [user({ type: 'text', text: `Prompt with arguments: arg1='${args.arg1}', arg2='${args.arg2}'` })],
      };
    case 'test_prompt_with_embedded_resource':
      return {
        messages: [
          user({
            type: 'resource',
            resource: { uri: args.resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
          }),
          user({ type: 'text', text: 'Please process the embedded resource above.' }),
        ],
      };
    case 'test_prompt_with_image':
      return {
        messages: [
          user({ type: 'image', data: png, mimeType: 'image/png' }),
          user({ type: 'text', text: 'Please analyze the image above.' }),
        ],
      };
    default:
      throw new ProtocolError(INVALID_PARAMS, `Unknown prompt: ${name}`);
  }
}

/** Completion values: the argument's candidates that start with what was typed. */
function complete(params: { argument: { name: string; value: string } }) {
  const candidates: Record<string, string[]> = {
    arg1: ['test', 'testing', 'tested', 'other'],
    id: ['123', '124', '200'],
  };
  const values = (candidates[params.argument.name] ?? []).filter((v) => v.startsWith(params.argument.value));
  return { completion: { values, total: values.length, hasMore: false } };
}

export interface ConformanceFixture {
  url: string;
  /** What `slow_cancellable` went through: started, then completed or aborted. */
  events: string[];
  close(): Promise<void>;
}

export async function startConformanceFixture(): Promise<ConformanceFixture> {
  const events: string[] = [];
  const subscriptions = new Set<string>();
  let changes = 0;
  let promptChanges = 0;
  // Added by test_trigger_prompt_change, changed by each call (as test_dynamic_tool is).
  const dynamicPrompt = () => ({
    name: 'test_dynamic_prompt',
    description: `Added by test_trigger_prompt_change, changed ${promptChanges} time(s)`,
  });
  const dynamicTool = () => ({
    name: 'test_dynamic_tool',
    description: `Added by test_trigger_tool_change, changed ${changes} time(s)`,
    inputSchema: noArgs,
  });
  // Its listen streams (a worker's, watching what Toolplane's clients subscribed to) hear resource updates.
  const bus = new InMemoryServerEventBus();
  const handler = toNodeHandler(
    createMcpHandler(
      () => {
        const s = new Server(
          { name: 'conformance-fixture', version: '1.0.0' },
          {
            capabilities: {
              tools: {},
              logging: {},
              resources: { subscribe: true },
              prompts: {},
              completions: {},
            },
          },
        );
        s.setRequestHandler('resources/list', () => ({ resources }));
        s.setRequestHandler('resources/templates/list', () => ({ resourceTemplates }));
        s.setRequestHandler('resources/read', (req) => readResource(req.params.uri));
        s.setRequestHandler('resources/subscribe', (req) => (subscriptions.add(req.params.uri), {}));
        s.setRequestHandler('resources/unsubscribe', (req) => (subscriptions.delete(req.params.uri), {}));
        s.setRequestHandler('prompts/list', () => ({
          prompts: promptChanges > 0 ? [...prompts, dynamicPrompt()] : prompts,
        }));
        s.setRequestHandler(
          'prompts/get',
          (req, ctx) => getPrompt(req.params.name, req.params.arguments ?? {}, ctx.mcpReq.inputResponses) as never,
        );
        s.setRequestHandler('completion/complete', (req) => complete(req.params));
        s.setRequestHandler(
          'tools/list',
          () => ({ tools: changes > 0 ? [...tools, dynamicTool()] : tools }) as unknown as ListToolsResult,
        );
        s.setRequestHandler('tools/call', (req, ctx) => {
          if (
            req.params.name.startsWith('test_input_required_result_') ||
            req.params.name === 'test_missing_capability' ||
            req.params.name === 'test_streaming_elicitation'
          ) {
            // The SDK lifts the retry fields out of the params into the context.
            const capabilities = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[
              'io.modelcontextprotocol/clientCapabilities'
            ] as Record<string, unknown> | undefined;
            return multiRound(req.params.name, ctx.mcpReq.inputResponses, ctx.mcpReq.requestState(), capabilities);
          }
          if (req.params.name === 'test_trigger_tool_change') {
            changes++;
            return text('Tool list changed');
          }
          if (req.params.name === 'test_trigger_prompt_change') {
            promptChanges++;
            return text('Prompt list changed');
          }
          return (
            taskTool(req.params.name, req.params.arguments ?? {}, ctx) ??
            call(req.params.name, req.params.arguments ?? {}, ctx, events)
          );
        });
        return s;
      },
      { bus },
    ),
  );
  const http: HttpServer = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    events,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
