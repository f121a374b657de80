import { audited, json, jsonList, problems } from '../../openapi/registry.ts';
import { get, post, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { CreatedWorkspace, CurrentWorkspace, Workspace } from './openapi.ts';
import { CreateWorkspaceBody } from './schemas.ts';

const tags = ['workspaces'];

/**
 * Workspaces of the caller's organization. Everything else in the API lives inside one workspace (the key's); a key
 * with the `admin` scope may list its organization's workspaces and create new ones, each created with a first
 * management+runtime key (its value shown once). Without `admin`, a key sees its own workspace only.
 */
export const workspacesOperations: Operation[] = [
  get('/workspaces', 'listWorkspaces', {
    tags,
    summary: 'List workspaces: the organization’s with the `admin` scope, else the key’s own',
    responses: { 200: jsonList('The workspaces, oldest first.', Workspace), ...problems(403) },
    handler: handlers.listWorkspaces,
  }),
  get('/workspaces/current', 'getCurrentWorkspace', {
    // Any of the management API's scopes: a key that only approves or only audits learns what it may open too.
    'x-scope': 'any',
    tags,
    summary: 'Get the caller’s workspace, and who the caller is there',
    description:
      'With `you`: the caller’s kind, scopes, roles (a signed-in person’s) and what those roles reach in each area ' +
      'of the API (what the dashboard shows); every role and every scope of the management API may call it.',
    responses: { 200: json('The workspace.', CurrentWorkspace), ...problems(403) },
    handler: handlers.currentWorkspace,
  }),
  post('/workspaces', 'createWorkspace', {
    'x-audit': audited('workspace.create'),
    tags,
    summary: 'Create a workspace in the organization (`admin` scope)',
    description: 'The workspace comes with a first management+runtime key, its value shown once.',
    responses: {
      201: json('The workspace and its first key.', CreatedWorkspace),
      ...problems(400, 403, 409, 413, 415, 422),
    },
    body: CreateWorkspaceBody.meta({ id: 'CreateWorkspaceBody' }),
    // A key without `admin` is refused (403) before its body is validated (422).
    before: handlers.requireAdmin,
    handler: handlers.createWorkspace,
  }),
];
