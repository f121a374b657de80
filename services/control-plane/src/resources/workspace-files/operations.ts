import { audited, json, jsonList, problems } from '../../openapi/registry.ts';
import { get, post, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { ApplyResult, Managed, Plan, WorkspaceFiles } from './openapi.ts';
import { ApplyBody, PlanBody } from './schemas.ts';

const tags = ['workspace files'];

/**
 * The workspace as files (ADR 0042, docs/gitops.md): export, plan and apply a directory of one file per resource,
 * resolved against the workspace by names. A directory carries whole documents: plan and apply read a body up to a
 * document's limit, and a large one takes a slot of the large imports (http/limits.ts).
 */
export const workspaceFilesOperations: Operation[] = [
  get('/workspace_files', 'exportWorkspaceFiles', {
    tags,
    summary: 'Export the workspace as files: one YAML file per resource, names instead of ids, secrets as references',
    description:
      'An unchanged workspace exports the same bytes (docs/gitops.md, "Layout"). 409 when two resources of a kind ' +
      'share a name (files name resources, never ids): `errors` lists them.',
    responses: { 200: json('The files, by path.', WorkspaceFiles), ...problems(403, 409) },
    handler: handlers.exportWorkspaceFiles,
  }),
  get('/workspace_files/managed', 'listManagedResources', {
    tags,
    summary: 'List the resources a directory of workspace files manages (set by apply)',
    responses: { 200: jsonList('By kind, then name.', Managed), ...problems(403) },
    handler: handlers.listManagedResources,
  }),
  post('/workspace_files/plan', 'planWorkspaceFiles', {
    'x-audit': false,
    tags,
    summary: 'What applying a directory of workspace files would change; changes nothing',
    description:
      'Every file is validated as the API validates its resource; names, secret references and their values are ' +
      'checked: a 422 lists every problem, each `path` as `<file>#<JSON pointer>`.',
    responses: { 200: json('The plan, in apply’s order.', Plan), ...problems(403, 413, 415) },
    body: PlanBody,
    reads: 'document-json',
    largeImport: true,
    handler: handlers.planWorkspaceFiles,
  }),
  post('/workspace_files/apply', 'applyWorkspaceFiles', {
    'x-audit': audited('workspace.apply'),
    tags,
    summary: 'Make the workspace match a directory of workspace files',
    description:
      'The plan first (a problem: 422, nothing changes), then each change as its own API operation (its audit ' +
      'event says `via: workspace.apply`), in dependency order; deletions only with `prune`. A failed step stops ' +
      'the apply: `outcome: failed`, what was applied and what was not; applying the same files again finishes.',
    responses: { 200: json('What was applied.', ApplyResult), ...problems(403, 413, 415) },
    body: ApplyBody,
    reads: 'document-json',
    largeImport: true,
    handler: handlers.applyWorkspaceFiles,
  }),
];
