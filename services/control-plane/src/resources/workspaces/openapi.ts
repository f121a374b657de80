import { z } from 'zod';
import { json, jsonBody, problems, type RouteDoc } from '../../openapi/registry.ts';
import { apiKeyScopes } from '@toolplane/contracts';
import { CreateWorkspaceBody } from './schemas.ts';

const timestamp = z.iso.datetime();

/** A workspace as the API shows it (`present` in workspaces.ts). */
const Workspace = z
  .object({ id: z.uuid(), organizationId: z.uuid(), name: z.string(), createdAt: timestamp })
  .strict()
  .meta({ id: 'Workspace' });

const CreatedWorkspace = Workspace.extend({
  apiKey: z
    .object({
      id: z.uuid(),
      name: z.string(),
      prefix: z.string(),
      scopes: z.array(z.enum(apiKeyScopes)),
      key: z.string().describe('The key; shown once.'),
    })
    .strict()
    .describe('The workspace’s first key (management and runtime).'),
})
  .strict()
  .meta({ id: 'CreatedWorkspace' });

const tags = ['workspaces'];

/** The workspaces routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const workspacesRoutes: RouteDoc[] = [
  {
    method: 'get',
    path: '/workspaces',
    operationId: 'listWorkspaces',
    tags,
    summary: 'List workspaces: the organization’s with the `admin` scope, else the key’s own',
    responses: {
      200: json('The workspaces, oldest first.', z.object({ data: z.array(Workspace) }).strict()),
      ...problems(403),
    },
  },
  {
    method: 'get',
    path: '/workspaces/current',
    operationId: 'getCurrentWorkspace',
    tags,
    summary: 'Get the calling key’s workspace',
    responses: { 200: json('The workspace.', Workspace), ...problems(403) },
  },
  {
    method: 'post',
    path: '/workspaces',
    operationId: 'createWorkspace',
    'x-audit': { action: 'workspace.create', resource: 'workspace' },
    tags,
    summary: 'Create a workspace in the organization (`admin` scope)',
    description: 'The workspace comes with a first management+runtime key, its value shown once.',
    request: { body: jsonBody(CreateWorkspaceBody.meta({ id: 'CreateWorkspaceBody' })) },
    responses: {
      201: json('The workspace and its first key.', CreatedWorkspace),
      ...problems(400, 403, 409, 413, 415, 422),
    },
  },
];
