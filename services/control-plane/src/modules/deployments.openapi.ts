import { z } from 'zod';
import { json, jsonBody, problems, Problem, type RouteDoc } from '../openapi/registry.ts';
import { DeployBody, DeployQuery } from './deployments.ts';

const timestamp = z.iso.datetime();

const Issue = z.object({ path: z.string(), message: z.string() }).strict();

/** Servers are addressed by id or by name (Bump: id or slug). */
const serverId = z.string().describe('The server’s id, or its name.');

const deploymentShape = {
  id: z.uuid(),
  mcp_server_id: z.uuid(),
  state: z.enum(['deploying', 'active', 'superseded', 'errored']),
  format: z.enum(['flower', 'arazzo']).nullable().describe('null when the document could not be read.'),
  tools: z.array(z.string()).describe('The names of the tools it defines, in document order.'),
  warnings: z.array(Issue),
  errors: z.array(Issue).describe('Why it was rejected.'),
  created_at: timestamp,
  activated_at: timestamp.nullable(),
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
    operationId: 'deployWorkflow',
    tags,
    summary: 'Deploy a Flower or Arazzo workflow document as the server’s tools',
    description:
      'Bump-compatible. The new deployment becomes active (the previous one superseded) and the server gets a ' +
      'new catalog version; the same document already active is a 204. With `dry_run=true` the document is ' +
      'only validated and compiled (200). A key limited to servers needs the `server_admin` scope (403).',
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
    method: 'get',
    path: '/mcp_servers/{id}/deployments',
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
