import { z } from 'zod';
import { json, jsonBody, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';
import { Connector, ConnectorUpdatePreview, UpdateConnectorQuery } from '../connectors/openapi.ts';
import { CreatedConnectorInstance } from '../connector-instances/openapi.ts';
import { AddCuratedConnectorBody, CuratedAuth, SetupCuratedConnectorBody } from './schemas.ts';

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
    credentials: z
      .object({ user_oauth: z.array(z.string()).optional(), token: z.array(z.string()).optional() })
      .strict()
      .describe(
        'The credentials an instance of each variant takes: the OAuth app (`client_id`, `client_secret`) or the ' +
          'token’s field (`slack_token`, …).',
      ),
    connectorId: z
      .uuid()
      .nullable()
      .describe('The workspace’s connector of this slug (the newest), null when it has not been added.'),
    update: z
      .object({ from: z.string(), to: z.string() })
      .strict()
      .nullable()
      .describe(
        'This Toolplane ships another version than the workspace’s connector: preview it with ' +
          '`POST /connectors/curated/{slug}/upgrade?dry_run=true`, apply it without. Never applied by itself.',
      ),
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
  {
    method: 'post',
    path: '/connectors/curated/{slug}/setup',
    operationId: 'setupCuratedConnector',
    'x-audit': { action: 'connector.setup_curated', resource: 'connector' },
    tags,
    summary: 'Set up a curated connector in one step: the connector, an instance and its MCP server',
    description:
      'Adds the connector (the workspace’s own when added already), creates an instance with the OAuth app’s ' +
      '`client_id` and `client_secret` or the provider’s token (`credentials`), and its MCP server exposing `tools` ' +
      '(default: all). A tool the connector does not have, or a missing credential: 422 naming it, nothing stored.',
    request: {
      params: pathParams('slug'),
      body: jsonBody(SetupCuratedConnectorBody.meta({ id: 'SetupCuratedConnectorBody' })),
    },
    responses: {
      201: json(
        'What was set up.',
        z
          .object({
            connector: z
              .object({
                id: z.uuid(),
                slug: z.string(),
                version: z.string(),
                added: z.boolean().describe('False when the workspace had added it already.'),
              })
              .strict(),
            instance: CreatedConnectorInstance,
            server: z
              .object({ id: z.uuid(), name: z.string(), url: z.string().describe('Its MCP endpoint.') })
              .strict()
              .nullable(),
          })
          .strict()
          .meta({ id: 'CuratedConnectorSetup' }),
      ),
      ...problems(400, 403, 404, 409, 413, 415, 422),
    },
  },
  {
    method: 'post',
    path: '/connectors/curated/{slug}/upgrade',
    operationId: 'upgradeCuratedConnector',
    'x-audit': { action: 'connector.upgrade_curated', resource: 'connector', dryRun: true },
    tags,
    summary: 'Bring the workspace’s curated connector to the version this Toolplane ships',
    description:
      'Replaces the workspace’s connector of that slug (its newest) by the shipped version, in the variant it was ' +
      'added in, exactly as `PUT /connectors/{id}` would: every server built on it gets a new catalog version. With ' +
      '`dry_run=true`, what it would change on each server, and nothing changes. Not added: 404.',
    request: { params: pathParams('slug'), query: UpdateConnectorQuery },
    responses: {
      200: json(
        'The connector as upgraded; with `dry_run=true`, what the upgrade would do.',
        z.union([Connector, ConnectorUpdatePreview]),
      ),
      ...problems(403, 404, 409, 422),
    },
  },
];
