import { z } from 'zod';
import { audited, json, jsonList, noContent, pathParams, problems } from '../../openapi/registry.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';
import { del, get, post, put, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { Connector, ConnectorUpdatePreview, ConnectorWithDescriptor, sourceBody } from './openapi.ts';
import { DeleteConnectorQuery, UpdateConnectorQuery } from './schemas.ts';

const tags = ['connectors'];

/**
 * Connectors: seed-001 descriptors and OpenAPI documents (documents/openapi-connectors.ts). What an OpenAPI envelope
 * names by URL (an opted-in `openIdConnect` scheme's discovery document) is read through a worker
 * (`deps.fetchDocument`). A body is the document text itself (application/yaml, text/yaml or application/json), up to
 * `MAX_DOCUMENT_BYTES`, and may be a large import.
 */
export const connectorsOperations: Operation[] = fourEyes(
  'connector',
  [
    post('/connectors', 'pushConnector', {
      'x-audit': audited('connector.push'),
      tags,
      summary: 'Register a connector from a descriptor or an OpenAPI document',
      description:
        'The body is the document text, YAML or JSON. A slug and version already registered is a 409 ' +
        '(publish a new version). 422 lists every problem of the document; nothing is stored then.',
      request: { body: sourceBody('A connector descriptor, an OpenAPI document, or the OpenAPI envelope.') },
      responses: {
        201: json('The connector.', Connector),
        ...problems(400, 403, 409, 413, 415, 422),
      },
      reads: 'document-text',
      largeImport: true,
      handler: handlers.pushConnector,
    }),
    get('/connectors', 'listConnectors', {
      tags,
      summary: 'List the workspace’s connectors',
      responses: {
        200: jsonList('Every connector, by slug, then oldest first.', Connector),
        ...problems(403),
      },
      handler: handlers.listConnectors,
    }),
    get('/connectors/{id}', 'getConnector', {
      tags,
      summary: 'Get a connector, with its descriptor',
      responses: {
        200: json('The connector and its stored descriptor.', ConnectorWithDescriptor),
        ...problems(403, 404),
      },
      params: pathParams('id'),
      handler: handlers.getConnector,
    }),
    put('/connectors/{id}', 'updateConnector', {
      'x-audit': { ...audited('connector.update'), dryRun: true },
      tags,
      summary: 'Replace a connector’s descriptor or document (same slug and kind)',
      description:
        'Every MCP server built on an instance of the connector gets a new catalog version; `mcp_config.enabled` ' +
        'false → true generates a server for each instance without one, true → false leaves them listing none of ' +
        'its tools (ADR 0024). A version used by another connector of the slug is a 409. With `dry_run=true` ' +
        'the change is compiled and rolled back: the answer lists, per server, the tools it would add, remove and ' +
        'change (the same 409 and 422 as the change itself). A document naming a new origin (operations, test ' +
        'endpoint, OAuth URLs) while instances use the connector needs a caller who may write the workspace’s ' +
        'secrets; one changing an operation’s cost or a result shape, a caller who may change access policies (403 ' +
        'otherwise; ADR 0073).',
      request: { body: sourceBody('The new descriptor or document, of the kind the connector was registered from.') },
      responses: {
        200: json(
          'The connector as changed; with `dry_run=true`, what the change would do.',
          z.union([Connector, ConnectorUpdatePreview]),
        ),
        ...problems(400, 403, 404, 409, 413, 415, 422),
      },
      params: pathParams('id'),
      query: UpdateConnectorQuery,
      reads: 'document-text',
      largeImport: true,
      handler: handlers.updateConnector,
    }),
    del('/connectors/{id}', 'deleteConnector', {
      'x-audit': audited('connector.delete'),
      tags,
      summary: 'Delete a connector',
      description:
        'While connector instances use it: 409 (`details.instances` lists them), unless `force=true`, which ' +
        'deletes them (and the servers generated for them) first in the same transaction; 409 while deployed ' +
        'workflows call those instances as steps (ADR 0045).',
      responses: { 204: noContent, ...problems(403, 404, 409) },
      params: pathParams('id'),
      query: DeleteConnectorQuery,
      // Read as every body of /connectors is (and ignored); the large-import slot is for POST and PUT only.
      reads: 'document-text',
      handler: handlers.deleteConnector,
    }),
    get('/connectors/{id}/openapi.json', 'getConnectorOpenApi', {
      tags,
      summary: 'The connector’s OpenAPI 3.1 document',
      description:
        'For an OpenAPI connector, the stored (normalised, self-contained) document; for a descriptor, the ' +
        'document generated from it.',
      responses: {
        200: json('An OpenAPI 3.1 document.', z.looseObject({ openapi: z.string() })),
        ...problems(403, 404),
      },
      params: pathParams('id'),
      handler: handlers.getConnectorOpenApi,
    }),
  ],
  { compared: handlers.connectorChange },
);
