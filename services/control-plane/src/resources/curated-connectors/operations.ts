import { z } from 'zod';
import { audited, json, jsonBody, jsonList, pathParams, problems } from '../../openapi/registry.ts';
import { Connector, ConnectorUpdatePreview } from '../connectors/openapi.ts';
import { UpdateConnectorQuery } from '../connectors/schemas.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';
import { get, post, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { CuratedConnector, CuratedConnectorSetup } from './openapi.ts';
import { AddCuratedConnectorBody, SetupCuratedConnectorBody } from './schemas.ts';

const tags = ['connectors'];

/** The body of `POST /connectors/curated/{slug}`: optional (documented so). */
const AddBody = AddCuratedConnectorBody.meta({ id: 'AddCuratedConnectorBody' });

/**
 * Curated connectors (`@toolplane/connectors`, ADR 0035): list them, and add one to the workspace as an OpenAPI
 * connector. Their paths are literal where `/connectors/{id}` has a parameter: the mount tries them first. Writes
 * under `/connectors` take a large-import slot for a large body, as every one of `/connectors` does. An upgrade that
 * loosens (an operation costing less) waits for approval with four eyes on (ADR 0087).
 */
export const curatedConnectorsOperations: Operation[] = fourEyes(
  'connector',
  [
    get('/connectors/curated', 'listCuratedConnectors', {
      tags,
      summary: 'List the curated connectors shipped with Toolplane',
      description:
        'Connectors for the APIs agents use most (GitHub, Slack, Gmail, …; ADR 0035): a few tools each, written for ' +
        'a model, checked against each provider’s own OpenAPI document.',
      responses: { 200: jsonList('Every curated connector, by slug.', CuratedConnector), ...problems(403) },
      handler: handlers.listCuratedConnectors,
    }),
    post('/connectors/curated/{slug}', 'addCuratedConnector', {
      'x-audit': audited('connector.add_curated'),
      tags,
      summary: 'Add a curated connector to the workspace',
      description:
        'Imports its OpenAPI envelope exactly as `POST /connectors` would, in the variant `auth` names (default: ' +
        '`user_oauth` where offered). Added already (same slug and version, whichever variant): 409. An unknown ' +
        'slug: 404; an authentication it does not offer: 422.',
      request: { body: { ...jsonBody(AddBody), required: false } },
      responses: {
        201: json('The connector.', Connector),
        ...problems(400, 403, 404, 409, 413, 415, 422),
      },
      params: pathParams('slug'),
      body: AddBody,
      largeImport: true,
      handler: handlers.addCuratedConnector,
    }),
    post('/connectors/curated/{slug}/setup', 'setupCuratedConnector', {
      'x-audit': audited('connector.setup_curated'),
      tags,
      summary: 'Set up a curated connector in one step: the connector, an instance and its MCP server',
      description:
        'Adds the connector (the workspace’s own when added already), creates an instance with the OAuth app’s ' +
        '`client_id` and `client_secret` or the provider’s token (`credentials`), and its MCP server exposing `tools` ' +
        '(default: all). A tool the connector does not have, or a missing credential: 422 naming it, nothing stored.',
      responses: {
        201: json('What was set up.', CuratedConnectorSetup),
        ...problems(400, 403, 404, 409, 413, 415, 422),
      },
      params: pathParams('slug'),
      body: SetupCuratedConnectorBody.meta({ id: 'SetupCuratedConnectorBody' }),
      largeImport: true,
      handler: handlers.setupCuratedConnector,
    }),
    post('/connectors/curated/{slug}/upgrade', 'upgradeCuratedConnector', {
      'x-audit': { ...audited('connector.upgrade_curated'), dryRun: true },
      tags,
      summary: 'Bring the workspace’s curated connector to the version this Toolplane ships',
      description:
        'Replaces the workspace’s connector of that slug (its newest) by the shipped version, in the variant it was ' +
        'added in, exactly as `PUT /connectors/{id}` would: every server built on it gets a new catalog version. With ' +
        '`dry_run=true`, what it would change on each server, and nothing changes. Not added: 404.',
      responses: {
        200: json(
          'The connector as upgraded; with `dry_run=true`, what the upgrade would do.',
          z.union([Connector, ConnectorUpdatePreview]),
        ),
        ...problems(403, 404, 409, 422),
      },
      params: pathParams('slug'),
      query: UpdateConnectorQuery,
      // It reads no body.
      reads: 'none',
      largeImport: true,
      handler: handlers.upgradeCuratedConnector,
    }),
  ],
  // An upgrade replaces the document as `PUT /connectors/{id}` does: its costs compared alike (ADR 0087).
  { compared: handlers.upgradeChange, readers: { upgradeCuratedConnector: handlers.upgradeTarget } },
);
