import { z } from 'zod';
import { json, jsonBody, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';
import { OpenBody } from './schemas.ts';

const timestamp = z.iso.datetime();

/** A debug session as the API shows it (`presentSession` in sessions.ts). */
const DebugSession = z
  .object({
    id: z.uuid(),
    server_id: z.uuid(),
    opened_at: timestamp,
    ends_at: timestamp,
    closed_at: timestamp.nullable().describe('When it was stopped; null: not stopped (it may still have ended).'),
    active: z.boolean().describe('Whether it is open now: neither stopped nor past `ends_at`.'),
  })
  .strict()
  .meta({ id: 'DebugSession' });

const tags = ['debug sessions'];

/** The debug-sessions routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const debugSessionsRoutes: RouteDoc[] = [
  {
    method: 'post',
    path: '/mcp_manager/{id}/debug_sessions',
    'x-server-limited-keys': 'own_server',
    operationId: 'startDebugSession',
    'x-audit': { action: 'debug_session.start', resource: 'debug_session' },
    tags,
    summary: 'Open a debug session on an MCP server (closes the open one)',
    description:
      'While it is open, the server’s execution records also keep redacted, size-capped request and response bodies. ' +
      'The body is optional (60 minutes).',
    request: {
      params: pathParams('id'),
      body: { ...jsonBody(OpenBody.meta({ id: 'StartDebugSessionBody' })), required: false },
    },
    responses: {
      201: json('The session.', DebugSession),
      ...problems(400, 403, 404, 413, 415, 422),
    },
  },
  {
    method: 'get',
    path: '/mcp_manager/{id}/debug_sessions',
    'x-server-limited-keys': 'own_server',
    operationId: 'listDebugSessions',
    tags,
    summary: 'List an MCP server’s debug sessions',
    request: { params: pathParams('id') },
    responses: {
      200: json('Every session of the server, newest first.', z.object({ data: z.array(DebugSession) }).strict()),
      ...problems(403, 404),
    },
  },
  {
    method: 'get',
    path: '/mcp_manager/{id}/debug_sessions/{sessionId}/events',
    'x-server-limited-keys': 'own_server',
    operationId: 'streamDebugSessionEvents',
    tags,
    summary: 'Follow a debug session: the server’s execution records as server-sent events',
    description:
      'A `text/event-stream` of the execution records of the server stored since the session opened: first those ' +
      'stored already, then each as it is stored (by any control plane replica). Send `Last-Event-ID` (the `id` of ' +
      'the last event received) to resume after it without loss or repetition. At most 10 open streams per API key ' +
      'and control plane process (429 beyond).',
    request: {
      params: pathParams('id', 'sessionId'),
      headers: z.object({
        'last-event-id': z
          .string()
          .optional()
          .describe('The id of the last event received: the stream resumes after that record.'),
      }),
    },
    responses: {
      200: {
        description:
          'Server-sent events. `event: record`, `id:` a record id, `data:` the record as a line of ' +
          '`GET /execution_records` (`ExecutionRecordSummary`), in the order the calls finished; a comment ' +
          '(`: keep-alive`) every 15 s; `event: end`, `data: { session_id, reason: "stopped" | "ended", ended_at }` ' +
          'when the session is stopped or its time is up (the stream then closes); `event: error`, ' +
          '`data: { code: "service.unavailable", detail }` when Redis or the database fails (the stream closes: ' +
          'reconnect with `Last-Event-ID`).',
        content: { 'text/event-stream': { schema: z.string() } },
      },
      ...problems(403, 404, 429),
    },
  },
  {
    method: 'delete',
    path: '/mcp_manager/{id}/debug_sessions/{sessionId}',
    'x-server-limited-keys': 'own_server',
    operationId: 'stopDebugSession',
    'x-audit': { action: 'debug_session.stop', resource: 'debug_session' },
    tags,
    summary: 'Stop a debug session',
    request: { params: pathParams('id', 'sessionId') },
    responses: { 200: json('The session as stopped.', DebugSession), ...problems(403, 404) },
  },
];
