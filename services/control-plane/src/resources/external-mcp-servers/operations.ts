import { audited, json, jsonList, problems } from '../../openapi/registry.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';
import { get, post, type Operation } from '../operation.ts';
import { rowOperations } from '../row-operations.ts';
import * as handlers from './handlers.ts';
import {
  ExternalMcpServer,
  ExternalMcpServerChange,
  ExternalMcpServerDecision,
  ExternalServerChangeParams,
  ExternalServerParams,
} from './openapi.ts';
import * as review from './review.ts';
import { CreateExternalServerBody, UpdateExternalServerBody } from './schemas.ts';

const tags = ['external mcp servers'];
const rows = rowOperations({
  path: '/external_mcp_servers',
  tags,
  audit: 'external_mcp_server',
  one: 'ExternalMcpServer',
  many: 'ExternalMcpServers',
  noun: 'registered server',
  row: ExternalMcpServer,
  params: ExternalServerParams,
});

/**
 * External MCP servers registered on the workspace (registered by URL once, stored on the workspace, usable by every
 * server of it): a name, a URL and headers, used by any hosted server that names it
 * in `externalMcpServers`. Header values are secrets, one per header (`externalServerHeaderSecretName`):
 * write-only, never in an answer, patched one at a time. A change of the URL, the name or a header
 * recompiles every server using it in one catalog change; its tool list (last listed) is kept here and
 * refreshed with the servers' catalogs (refresh.ts).
 */
export const externalMcpServersOperations: Operation[] = fourEyes('external_server', [
  rows.list({
    summary: 'List the external MCP servers registered on the workspace',
    answer: 'Every registered server, by name.',
    handler: handlers.listExternalMcpServers,
  }),
  rows.create({
    summary: 'Register an external MCP server on the workspace',
    description:
      'A name, a URL and headers (their values are secrets: sealed, never shown again). A worker lists its tools ' +
      'once (the control plane has no egress); a server that cannot be listed is registered anyway, with the ' +
      'reason in `listError`. Hosted servers use it by naming it in `externalMcpServers`. A name already ' +
      'registered is a 409.',
    body: CreateExternalServerBody.meta({ id: 'CreateExternalMcpServerBody' }),
    handler: handlers.createExternalMcpServer,
  }),
  rows.get({ summary: 'Get a registered external MCP server', handler: handlers.getExternalMcpServer }),
  rows.update({
    summary: 'Change a registered external MCP server field by field',
    description:
      'Only what the body names changes: `url`, `name`, and in `headers` each header named (a value sets it, ' +
      '`null` removes it; the other headers keep their sealed values). It is listed again, and every hosted ' +
      'server using it gets a new catalog version in one change (edges send `tools/list_changed`). What it lists ' +
      'is reconciled with its pins (new or changed items held for review, `GET …/changes`); at another `url` it ' +
      'is pinned afresh. `autoAccept`, `onChange` and `notifyWebhookUrl` change the review settings. A name ' +
      'already registered, or already used by an external config of a server using it, is a 409. A new `url` while ' +
      'headers are stored needs a caller who may write the workspace’s secrets, `autoAccept` one who may change ' +
      'access policies (403 otherwise; ADR 0073).',
    body: UpdateExternalServerBody.meta({ id: 'UpdateExternalMcpServerBody' }),
    handler: handlers.updateExternalMcpServer,
  }),
  rows.delete({
    summary: 'Unregister an external MCP server (its header secrets go with it)',
    description:
      'Only when no hosted server uses it and no deployed workflow calls its tools as steps: 409 naming them ' +
      '(ADR 0045).',
    problems: [403, 404, 409],
    handler: handlers.deleteExternalMcpServer,
  }),
  get('/external_mcp_servers/{id}/changes', 'listExternalMcpServerChanges', {
    tags,
    summary: 'List the changes of a registered external MCP server held for review',
    description:
      'Each tool, resource, resource template and prompt the server offers is pinned when it is first listed ' +
      '(ADR 0061). A refresh that finds a new item, or a pinned one changed, holds it here until it is accepted ' +
      'or rejected: a new item is not served meanwhile, a changed one is served as pinned (`onChange: ' +
      '"keep_pinned"`) or withheld (`"withhold"`). `fields` lists each pinned field that differs (name, title, ' +
      'description, schemas, annotations; for a resource its URI, name, description, MIME type and `_meta`; for a ' +
      'prompt its arguments), before and after. Oldest first.',
    responses: { 200: jsonList('The held changes.', ExternalMcpServerChange), ...problems(403, 404) },
    params: ExternalServerParams,
    handler: review.listExternalMcpServerChanges,
  }),
  post('/external_mcp_servers/{id}/changes/{changeId}/accept', 'acceptExternalMcpServerChange', {
    'x-audit': audited('external_mcp_server.change_accepted'),
    tags,
    summary: 'Accept a held change: pin the new definition and publish it',
    description:
      'The definition becomes the pin, and every hosted server using the registered server gets a new catalog ' +
      'version in one change (edges send `list_changed`). An id no longer held (decided, or superseded by a newer ' +
      'listing) is a 404.',
    responses: { 200: json('The change as decided.', ExternalMcpServerDecision), ...problems(403, 404) },
    params: ExternalServerChangeParams,
    handler: review.acceptExternalMcpServerChange,
  }),
  post('/external_mcp_servers/{id}/changes/{changeId}/reject', 'rejectExternalMcpServerChange', {
    'x-audit': audited('external_mcp_server.change_rejected'),
    tags,
    summary: 'Reject a held change: keep the pinned definition',
    description:
      'The pin stays (a changed item keeps being served as pinned, or withheld; a new item stays unserved), and ' +
      'the same definition is not held again until the server changes it again.',
    responses: { 200: json('The change as decided.', ExternalMcpServerDecision), ...problems(403, 404) },
    params: ExternalServerChangeParams,
    handler: review.rejectExternalMcpServerChange,
  }),
]);
