import { audited, json, noContent, problems } from '../../openapi/registry.ts';
import { del, get, put, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { SessionAnswer, SessionSettingsAnswer } from './openapi.ts';
import { PutSessionSettingsBody, SessionParams } from './schemas.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';

const tags = ['sessions'];

/**
 * Rules that see the session (ADR 0078, docs/governance.md "Rules that see the session"): the workspace's session
 * settings (how long a session keeps the labels its results brought, and the rules that judge a call sending data out
 * by them), published to every edge and worker with the access policies; and one session's labels, read and ended.
 */
export const sessionsOperations: Operation[] = fourEyes('session_settings', [
  get('/session_settings', 'getSessionSettings', {
    tags,
    summary: 'Get the workspace’s session settings',
    responses: {
      200: json('The settings (`configured: false` when the workspace keeps no session).', SessionSettingsAnswer),
      ...problems(403),
    },
    handler: handlers.getSessionSettings,
  }),
  put('/session_settings', 'putSessionSettings', {
    'x-audit': audited('session_settings.update'),
    tags,
    summary: 'Set the workspace’s session settings',
    description:
      'Replaces the settings whole and publishes them to every edge and worker. Only a caller who may change access ' +
      'policies (an admin, or a management key without a server restriction). 422 lists every problem (a label ' +
      'unknown, a rule requiring approval without an approval rule, a rule id used twice, an approver the workspace ' +
      'does not have, a lifetime out of bounds).',
    responses: { 200: json('The settings.', SessionSettingsAnswer), ...problems(403, 413, 415) },
    body: PutSessionSettingsBody,
    handler: handlers.putSessionSettings,
  }),
  del('/session_settings', 'deleteSessionSettings', {
    'x-audit': audited('session_settings.delete'),
    tags,
    summary: 'Remove the workspace’s session settings (no session kept, no session rule)',
    responses: { 204: noContent, ...problems(403) },
    handler: handlers.deleteSessionSettings,
  }),
  get('/sessions/{scope}', 'getSession', {
    tags,
    summary: 'Read one session: its labels with where each came from, and its calls',
    description:
      'Admins and auditors. Each label names the result that brought it (tool, execution record, time, how it was ' +
      'found); never a value. An unknown or expired session has no labels.',
    responses: { 200: json('The session.', SessionAnswer), ...problems(403, 422) },
    params: SessionParams,
    handler: handlers.getSession,
  }),
  del('/sessions/{scope}', 'endSession', {
    'x-audit': audited('session.ended'),
    tags,
    summary: 'End a session: its labels and calls are dropped',
    description: 'Admins. The next call of the session starts with none (the audit event names who ended it).',
    responses: { 204: noContent, ...problems(403, 422) },
    params: SessionParams,
    handler: handlers.endSession,
  }),
]);
