import { z } from 'zod';
import { audited, json, jsonBody, jsonList, pathParams, problems } from '../../openapi/registry.ts';
import { operation, rawOperation, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { DebugSession } from './openapi.ts';
import { OpenBody } from './schemas.ts';

const tags = ['debug sessions'];

const StartDebugSessionBody = OpenBody.meta({ id: 'StartDebugSessionBody' });

/**
 * Debug sessions of a server (`/mcp_manager/{id}/debug_sessions`, the server by id or name): while one is open, the
 * server's execution records also carry `debug` (requests and responses, secrets scrubbed); a session's records are
 * followed as server-sent events (event-stream.ts). Opening and closing are announced to the workers before the answer.
 */
export const debugSessionsOperations: Operation[] = [
  operation({
    route: {
      method: 'post',
      path: '/mcp_manager/{id}/debug_sessions',
      'x-server-limited-keys': 'own_server',
      operationId: 'startDebugSession',
      'x-audit': audited('debug_session.start'),
      tags,
      summary: 'Open a debug session on an MCP server (closes the open one)',
      description:
        'While it is open, the server’s execution records also keep redacted, size-capped request and response ' +
        'bodies. The body is optional (60 minutes).',
      // Documented here, as optional; the table parses it (an absent body is `{}`).
      request: { body: { ...jsonBody(StartDebugSessionBody), required: false } },
      responses: {
        201: json('The session.', DebugSession),
        ...problems(400, 403, 404, 413, 415, 422),
      },
    },
    params: pathParams('id'),
    body: StartDebugSessionBody,
    handler: handlers.openDebugSession,
  }),
  operation({
    route: {
      method: 'get',
      path: '/mcp_manager/{id}/debug_sessions',
      'x-server-limited-keys': 'own_server',
      operationId: 'listDebugSessions',
      tags,
      summary: 'List an MCP server’s debug sessions',
      responses: { 200: jsonList('Every session of the server, newest first.', DebugSession), ...problems(403, 404) },
    },
    params: pathParams('id'),
    handler: handlers.listDebugSessions,
  }),
  rawOperation({
    route: {
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
    answers: 'stream',
    params: pathParams('id', 'sessionId'),
    handler: handlers.streamSessionEvents,
  }),
  operation({
    route: {
      method: 'delete',
      path: '/mcp_manager/{id}/debug_sessions/{sessionId}',
      'x-server-limited-keys': 'own_server',
      operationId: 'stopDebugSession',
      'x-audit': audited('debug_session.stop'),
      tags,
      summary: 'Stop a debug session',
      responses: { 200: json('The session as stopped.', DebugSession), ...problems(403, 404) },
    },
    params: pathParams('id', 'sessionId'),
    handler: handlers.closeDebugSession,
  }),
];
