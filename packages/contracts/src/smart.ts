import type { ToolDefinition } from './catalog.ts';

/**
 * Code mode (ADR 0068): runs a JavaScript program whose `tools.<name>(args)` are calls of the catalog's tools. The edge
 * appends to this description the TypeScript declarations of the tools the caller may call.
 */
export const runCodeTool: ToolDefinition = {
  name: 'run_code',
  title: 'Run code',
  description:
    'Run a JavaScript program (the body of an async function: use await, return a JSON value) that calls this ' +
    "server's tools as `await tools.<name>(args)`, to do several steps in one call. A refused or failed call throws an " +
    "Error (catch it). console.log output is returned with the result. The program's time, memory, tool calls and " +
    'output are capped (an error names the cap reached); no network, files or modules besides tools.',
  inputSchema: {
    type: 'object',
    properties: {
      code: { type: 'string', minLength: 1, maxLength: 100_000, description: 'The program (an async function body)' },
    },
    required: ['code'],
    additionalProperties: false,
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
};

/** The meta tools a SMART server shows instead of its catalog. */
export const smartMetaTools: ToolDefinition[] = [
  {
    name: 'search_tools',
    title: 'Search tools',
    description:
      "Search this server's catalog of API tools by what you want to do (e.g. 'create a support ticket'). " +
      'Returns the best matching tool names with their descriptions. ' +
      "Then call describe_tool to see a tool's arguments and execute_tool to run it.",
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', minLength: 1, description: 'What you want to do, in plain words' },
        limit: { type: 'integer', minimum: 1, maximum: 20, default: 5, description: 'How many tools to return' },
      },
      required: ['query'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'describe_tool',
    title: 'Describe a tool',
    description:
      'Show one tool of the catalog in full: description, input JSON Schema (its arguments) and behaviour hints.',
    inputSchema: {
      type: 'object',
      properties: { name: { type: 'string', minLength: 1 } },
      required: ['name'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'execute_tool',
    title: 'Execute a tool',
    description:
      'Run one tool of the catalog with arguments matching its input schema (see describe_tool). Returns the tool’s result.',
    inputSchema: {
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1 },
        arguments: { type: 'object', description: 'The tool’s arguments', default: {} },
      },
      required: ['name'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  },
  runCodeTool,
  {
    name: 'list_connections',
    title: 'List connections',
    description:
      'List the connected API accounts the catalog’s tools run with: for a named user (x-username), that user’s own ' +
      'connections and the tools that still lack one. Then call connect to learn how to add a missing one.',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'connect',
    title: 'Connect an account',
    description:
      'For a tool that needs a connection the user lacks: the exact API call the application makes to add it. ' +
      'Never ask the user for a secret or pass one through this conversation: the application sends it.',
    inputSchema: {
      type: 'object',
      properties: { tool: { type: 'string', minLength: 1, description: 'The catalog tool that needs the connection' } },
      required: ['tool'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
];

/**
 * Splits identifiers and text into lower-case words, for search indexes (SMART tool search, the API catalog):
 * `searchJiraIssues` / `search_jira-issues` → search, jira, issues; `api.github.com` → api, github, com.
 */
export function tokenize(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}
