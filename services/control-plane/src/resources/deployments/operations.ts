import { z } from 'zod';
import { audited, json, jsonList, noContent, Problem, problems } from '../../openapi/registry.ts';
import { operation, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import {
  DeployedWorkflow,
  DeploymentRejected,
  serverId,
  ValidatedWorkflow,
  WorkflowDeployment,
  WorkflowDeploymentWithDefinition,
} from './openapi.ts';
import { DeployBody, DeployQuery } from './schemas.ts';

const tags = ['deployments'];

const ServerParams = z.object({ id: serverId });
const DeploymentParams = z.object({ id: serverId, deploymentId: z.string() });

/**
 * Workflow deployments, Bump-compatible (`/mcp_servers/{id}/…`, the server by id or name): `POST …/deploy` with
 * `{definition, references?}` → 201 `{id, mcp_server_id}`, 204 when the same document is already active, 422
 * `{message, errors}`. A deployment is `deploying`, then `active` (the previous active one becomes `superseded`) or
 * `errored`. The server's catalog always carries the tools of its latest active deployment (`withWorkflowTools`,
 * called by `compileCatalog`). Arazzo source descriptions not uploaded are fetched by URL or taken from a connector
 * (documents/workflow-sources.ts) and stored with the deployment; `…/deployments/{deploymentId}/redeploy` activates a
 * deployment again from what it stored, fetching nothing (a rollback, when it is an earlier one), and `…/withdraw`
 * takes the active deployment's tools off the server (it becomes `withdrawn`). The writes may be large imports.
 */
export const deploymentsOperations: Operation[] = [
  operation({
    route: {
      method: 'post',
      path: '/mcp_servers/{id}/deploy',
      'x-server-limited-keys': 'server_admin',
      operationId: 'deployWorkflow',
      'x-audit': { ...audited('workflow_deployment.deploy'), dryRun: true },
      tags,
      summary: 'Deploy a Flower or Arazzo workflow document as the server’s tools',
      description:
        'Bump-compatible. The new deployment becomes active (the previous one superseded) and the server gets a ' +
        'new catalog version; the same document already active is a 204. With `dry_run=true` the document is ' +
        'only validated and compiled (200). A key limited to servers needs the `server_admin` scope (403). ' +
        'An Arazzo source description no reference answers is taken from its `url`: an `https` URL is fetched ' +
        'by the data plane through the outbound guard (10 MB, 30 s, no private address, redirects checked; plain ' +
        '`http` only for hosts the worker’s `OUTBOUND_ALLOW` lists), `toolplane:connectors/<slug>` (or ' +
        '`…/instances/<name or id>`) uses a connector’s document (OpenAPI, or a descriptor’s) and its instance’s ' +
        'credentials; `toolplane:mcp_servers/<server>` and `toolplane:external_mcp_servers/<name>` make the tools of an ' +
        'MCP server of the workspace its operations (a Flower step names a tool as its `request.url`). ' +
        'Documents that cannot be fetched or found are a 422 naming the source description.',
      responses: {
        200: json('`dry_run=true`: the document is valid; nothing was stored or changed.', ValidatedWorkflow),
        201: json('The deployment, active.', DeployedWorkflow),
        204: { description: 'The same document (with the same references and servers) is already active.' },
        ...problems(400, 403, 404, 413, 415),
        422: {
          description:
            'The request or the workflow document is invalid: `{ message, errors }` (Bump’s shape); problems found ' +
            'while activating it are problem+json.',
          content: {
            'application/json': { schema: DeploymentRejected },
            'application/problem+json': { schema: Problem },
          },
        },
      },
    },
    params: ServerParams,
    query: DeployQuery,
    body: DeployBody.meta({ id: 'DeployWorkflowBody' }),
    largeImport: true,
    handler: handlers.deployWorkflow,
    checksBody: 'handler',
  }),
  operation({
    route: {
      method: 'post',
      path: '/mcp_servers/{id}/deployments/{deploymentId}/redeploy',
      'x-server-limited-keys': 'server_admin',
      operationId: 'redeployWorkflow',
      'x-audit': audited('workflow_deployment.rollback'),
      tags,
      summary: 'Deploy a past deployment again, from the documents it stored',
      description:
        'A new deployment with the same definition, server overrides and stored documents (fetched or taken from ' +
        'a connector at the time): nothing is fetched again, so the result is what was deployed then. A ' +
        'connector-bound source needs its instance to still exist. The same input already active is a 204. A key ' +
        'limited to servers needs the `server_admin` scope (403).',
      responses: {
        201: json('The new deployment, active.', DeployedWorkflow),
        204: { description: 'The same input is already active.' },
        ...problems(403, 404),
        422: {
          description: 'The stored document no longer compiles, or a connector instance it used is gone.',
          content: { 'application/json': { schema: DeploymentRejected } },
        },
      },
    },
    params: DeploymentParams,
    largeImport: true,
    handler: handlers.redeployDeployment,
  }),
  operation({
    route: {
      method: 'post',
      path: '/mcp_servers/{id}/deployments/{deploymentId}/withdraw',
      'x-server-limited-keys': 'server_admin',
      operationId: 'withdrawDeployment',
      'x-audit': audited('workflow_deployment.withdraw'),
      tags,
      summary: 'Take the active deployment’s tools off the server',
      description:
        'The server gets a new catalog version without the deployment’s tools; the deployment stays in the ' +
        'history as `withdrawn` (redeploy it to bring them back). Already withdrawn: 204, nothing changes. A ' +
        'deployment that is not active is a 409. A key limited to servers needs the `server_admin` scope (403).',
      responses: { 204: noContent, ...problems(403, 404, 409) },
    },
    params: DeploymentParams,
    largeImport: true,
    handler: handlers.withdrawDeployment,
  }),
  operation({
    route: {
      method: 'get',
      path: '/mcp_servers/{id}/deployments',
      'x-server-limited-keys': 'own_server',
      operationId: 'listDeployments',
      tags,
      summary: 'List the server’s workflow deployments',
      responses: {
        200: jsonList('The latest 100 deployments, newest first.', WorkflowDeployment),
        ...problems(403, 404),
      },
    },
    params: ServerParams,
    handler: handlers.listDeployments,
  }),
  operation({
    route: {
      method: 'get',
      path: '/mcp_servers/{id}/deployments/{deploymentId}',
      'x-server-limited-keys': 'own_server',
      operationId: 'getDeployment',
      tags,
      summary: 'Get a workflow deployment, with its document',
      responses: {
        200: json('The deployment and its definition.', WorkflowDeploymentWithDefinition),
        ...problems(403, 404),
      },
    },
    params: DeploymentParams,
    handler: handlers.getDeployment,
  }),
];
