import { z } from 'zod';
import { json, jsonBody, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';
import { Connector } from '../connectors/openapi.ts';
import { AddCuratedConnectorBody, CuratedAuth } from './schemas.ts';

/** A curated connector as `GET /connectors/curated` lists it (handlers.ts). */
const CuratedConnector = z
  .object({
    slug: z.string(),
    name: z.string(),
    version: z.string(),
    description: z.string(),
    tools: z
      .array(z.object({ name: z.string(), description: z.string() }).strict())
      .describe('The MCP tools an instance gives, as written for a model.'),
    auth: z
      .array(CuratedAuth)
      .min(1)
      .describe('The authentication it offers, the default first: people’s accounts where the provider has OAuth.'),
    connectorId: z
      .uuid()
      .nullable()
      .describe('The workspace’s connector of this slug (the newest), null when it has not been added.'),
  })
  .strict()
  .meta({ id: 'CuratedConnector' });

const tags = ['connectors'];

/** The curated connectors routes, for the OpenAPI document (services/control-plane/src/api-document.ts). */
export const curatedConnectorsRoutes: RouteDoc[] = [
  {
    method: 'get',
    path: '/connectors/curated',
    operationId: 'listCuratedConnectors',
    tags,
    summary: 'List the curated connectors shipped with Toolplane',
    description:
      'Connectors for the APIs agents use most (GitHub, Slack, Gmail, …; ADR 0035): a few tools each, written for ' +
      'a model, checked against each provider’s own OpenAPI document.',
    responses: {
      200: json('Every curated connector, by slug.', z.object({ data: z.array(CuratedConnector) }).strict()),
      ...problems(403),
    },
  },
  {
    method: 'post',
    path: '/connectors/curated/{slug}',
    operationId: 'addCuratedConnector',
    'x-audit': { action: 'connector.add_curated', resource: 'connector' },
    tags,
    summary: 'Add a curated connector to the workspace',
    description:
      'Imports its OpenAPI envelope exactly as `POST /connectors` would, in the variant `auth` names (default: ' +
      '`user_oauth` where offered). Added already (same slug and version, whichever variant): 409. An unknown ' +
      'slug: 404; an authentication it does not offer: 422.',
    request: {
      params: pathParams('slug'),
      body: { ...jsonBody(AddCuratedConnectorBody.meta({ id: 'AddCuratedConnectorBody' })), required: false },
    },
    responses: {
      201: json('The connector.', Connector),
      ...problems(400, 403, 404, 409, 413, 415, 422),
    },
  },
];
