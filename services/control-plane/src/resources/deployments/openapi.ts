import { z } from 'zod';
import { json, jsonBody, noContent, problems, Problem, type RouteDoc } from '../../openapi/registry.ts';
import { DeployBody, DeployQuery } from './schemas.ts';

const timestamp = z.iso.datetime();

const Issue = z.object({ path: z.string(), message: z.string() }).strict();

/** Servers are addressed by id or by name (Bump: id or slug). */
const serverId = z.string().describe('The server’s id, or its name.');

/** Where one of a deployment's OpenAPI documents came from (`presentSources` in workflow-sources.ts); never its content. */
const DeploymentSource = z
  .object({
    location: z.string().describe('The reference’s location, or the source description’s `url` it answers.'),
    origin: z
      .enum(['inline', 'url', 'connector', 'tools'])
      .describe(
        '`inline`: uploaded in `references`; `url`: fetched from the source description’s `url` at deploy time; ' +
          '`connector`: a connector of the workspace (`toolplane:connectors/<slug>[/instances/<name or id>]`; a ' +
          'connector descriptor as the OpenAPI document its tools are compiled from); `tools`: the tools of an MCP ' +
          'server of the workspace (`toolplane:mcp_servers/<server>`, `toolplane:external_mcp_servers/<name>`), or ' +
          'those a Flower document’s steps call (location `toolplane:tools`).',
      ),
    source: z.string().optional().describe('The source description it answers (fetched and connector documents).'),
    sha256: z.string().describe('SHA-256 of the document as used (the text fetched; a connector’s document as JSON).'),
    fetchedAt: z.iso.datetime().optional(),
    finalUrl: z.string().optional().describe('Where the fetched document came from after redirects.'),
    tools: z
      .array(z.string())
      .optional()
      .describe(
        '`tools`: the references of the tools the steps call (`toolplane:…/tools/<tool>`), compiled as deployed.',
      ),
    connector: z
      .object({ slug: z.string(), version: z.string(), instanceId: z.uuid(), instanceName: z.string() })
      .strict()
      .optional()
      .describe('The connector and the instance whose credentials the steps calling its operations send.'),
  })
  .strict()
  .meta({ id: 'DeploymentSource' });

const deploymentShape = {
  id: z.uuid(),
  mcp_server_id: z.uuid(),
  state: z
    .enum(['deploying', 'active', 'superseded', 'errored', 'withdrawn'])
    .describe('`withdrawn`: its tools were taken off the server (`…/withdraw`); redeploy brings them back.'),
  format: z.enum(['flower', 'arazzo']).nullable().describe('null when the document could not be read.'),
  tools: z.array(z.string()).describe('The names of the tools it defines, in document order.'),
  warnings: z.array(Issue),
  errors: z.array(Issue).describe('Why it was rejected.'),
  created_at: timestamp,
  activated_at: timestamp.nullable(),
  sources: z.array(DeploymentSource).describe('The OpenAPI documents it was compiled with, stored with it.'),
};

/** A workflow deployment as the API shows it (`present` in deployments.ts). */
const WorkflowDeployment = z.object(deploymentShape).strict().meta({ id: 'WorkflowDeployment' });

const WorkflowDeploymentWithDefinition = z
  .object({ ...deploymentShape, definition: z.string().describe('The workflow document as deployed.') })
  .strict()
  .meta({ id: 'WorkflowDeploymentWithDefinition' });

const DeployedWorkflow = z
  .object({
    id: z.uuid(),
    mcp_server_id: z.uuid(),
    state: z.literal('active'),
    tools: z.array(z.string()),
    warnings: z.array(Issue),
    sources: z.array(DeploymentSource),
  })
  .strict()
  .meta({ id: 'DeployedWorkflow' });

/** The answer of a dry run (`?dry_run=true`): what a deployment of the document would create. */
const ValidatedWorkflow = z
  .object({
    mcp_server_id: z.uuid(),
    state: z.literal('validated'),
    format: z.enum(['flower', 'arazzo']),
    tools: z.array(z.string()).describe('The tools a deployment would create, in document order.'),
    warnings: z.array(Issue),
    sources: z.array(DeploymentSource),
  })
  .strict()
  .meta({ id: 'ValidatedWorkflow' });

/** The Bump-compatible 422 of a deployment (not problem+json). */
const DeploymentRejected = z
  .object({
    message: z.string(),
    errors: z.array(Issue),
    id: z.uuid().optional().describe('The errored deployment, when the document was read but did not compile.'),
    mcp_server_id: z.uuid().optional(),
  })
  .strict()
  .meta({ id: 'DeploymentRejected' });

const tags = ['deployments'];

/** The deployments routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const deploymentsRoutes: RouteDoc[] = [
  {
    method: 'post',
    path: '/mcp_servers/{id}/deploy',
    'x-server-limited-keys': 'server_admin',
    operationId: 'deployWorkflow',
    'x-audit': { action: 'workflow_deployment.deploy', resource: 'workflow_deployment', dryRun: true },
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
    request: {
      params: z.object({ id: serverId }),
      query: DeployQuery,
      body: jsonBody(DeployBody.meta({ id: 'DeployWorkflowBody' })),
    },
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
  {
    method: 'post',
    path: '/mcp_servers/{id}/deployments/{deploymentId}/redeploy',
    'x-server-limited-keys': 'server_admin',
    operationId: 'redeployWorkflow',
    'x-audit': { action: 'workflow_deployment.rollback', resource: 'workflow_deployment' },
    tags,
    summary: 'Deploy a past deployment again, from the documents it stored',
    description:
      'A new deployment with the same definition, server overrides and stored documents (fetched or taken from ' +
      'a connector at the time): nothing is fetched again, so the result is what was deployed then. A ' +
      'connector-bound source needs its instance to still exist. The same input already active is a 204. A key ' +
      'limited to servers needs the `server_admin` scope (403).',
    request: { params: z.object({ id: serverId, deploymentId: z.string() }) },
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
  {
    method: 'post',
    path: '/mcp_servers/{id}/deployments/{deploymentId}/withdraw',
    'x-server-limited-keys': 'server_admin',
    operationId: 'withdrawDeployment',
    'x-audit': { action: 'workflow_deployment.withdraw', resource: 'workflow_deployment' },
    tags,
    summary: 'Take the active deployment’s tools off the server',
    description:
      'The server gets a new catalog version without the deployment’s tools; the deployment stays in the ' +
      'history as `withdrawn` (redeploy it to bring them back). Already withdrawn: 204, nothing changes. A ' +
      'deployment that is not active is a 409. A key limited to servers needs the `server_admin` scope (403).',
    request: { params: z.object({ id: serverId, deploymentId: z.string() }) },
    responses: { 204: noContent, ...problems(403, 404, 409) },
  },
  {
    method: 'get',
    path: '/mcp_servers/{id}/deployments',
    'x-server-limited-keys': 'own_server',
    operationId: 'listDeployments',
    tags,
    summary: 'List the server’s workflow deployments',
    request: { params: z.object({ id: serverId }) },
    responses: {
      200: json('The latest 100 deployments, newest first.', z.object({ data: z.array(WorkflowDeployment) }).strict()),
      ...problems(403, 404),
    },
  },
  {
    method: 'get',
    path: '/mcp_servers/{id}/deployments/{deploymentId}',
    'x-server-limited-keys': 'own_server',
    operationId: 'getDeployment',
    tags,
    summary: 'Get a workflow deployment, with its document',
    request: { params: z.object({ id: serverId, deploymentId: z.string() }) },
    responses: {
      200: json('The deployment and its definition.', WorkflowDeploymentWithDefinition),
      ...problems(403, 404),
    },
  },
];
