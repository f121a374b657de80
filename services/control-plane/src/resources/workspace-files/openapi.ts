import { z } from 'zod';
import { json, jsonBody, Problem, problems, type RouteDoc } from '../../openapi/registry.ts';
import { ApplyBody, PlanBody } from './schemas.ts';

const kind = z.enum([
  'secret',
  'external_mcp_server',
  'connector',
  'connector_instance',
  'server',
  'workflow_deployment',
  'external_user',
  'api_key',
  'access_policy',
]);

const File = z.object({ path: z.string(), content: z.string() }).strict();

const Change = z
  .object({
    kind,
    name: z.string(),
    file: z.string().describe('The file that describes it (a deletion: the file an export would write).'),
    action: z
      .enum(['create', 'update', 'delete', 'unchanged', 'unmanaged'])
      .describe('`unmanaged`: in the workspace, in no file, kept (`prune` deletes it; never the calling key).'),
    fields: z.array(z.string()).describe('What an update changes; `managed`: only apply’s marker (adopting it).'),
  })
  .strict()
  .meta({ id: 'WorkspaceChange' });

const Summary = z
  .object({
    create: z.number().int(),
    update: z.number().int(),
    delete: z.number().int(),
    unchanged: z.number().int(),
    unmanaged: z.number().int(),
  })
  .strict();

const Plan = z
  .object({ changes: z.array(Change), summary: Summary })
  .strict()
  .meta({ id: 'WorkspacePlan' });

const ApplyResult = z
  .object({
    outcome: z.enum(['applied', 'failed']),
    applied: z.array(Change).describe('Done, in order.'),
    notApplied: z.array(Change).describe('After a failure: not done (the same files applied again do them).'),
    failed: Change.extend({ problem: Problem })
      .strict()
      .optional()
      .describe('The change that failed, with the problem its operation answered.'),
    createdKeys: z
      .array(z.object({ name: z.string(), id: z.uuid(), key: z.string() }).strict())
      .describe('API keys apply created, each with its value: shown once.'),
    summary: Summary,
  })
  .strict()
  .meta({ id: 'WorkspaceApplyResult' });

const Managed = z
  .object({ kind, name: z.string(), file: z.string(), appliedAt: z.iso.datetime() })
  .strict()
  .meta({ id: 'ManagedResource' });

const tags = ['workspace files'];

/** The workspace files routes (ADR 0042, docs/gitops.md). */
export const workspaceFilesRoutes: RouteDoc[] = [
  {
    method: 'get',
    path: '/workspace_files',
    operationId: 'exportWorkspaceFiles',
    tags,
    summary: 'Export the workspace as files: one YAML file per resource, names instead of ids, secrets as references',
    description:
      'An unchanged workspace exports the same bytes (docs/gitops.md, "Layout"). 409 when two resources of a kind ' +
      'share a name (files name resources, never ids): `errors` lists them.',
    responses: {
      200: json(
        'The files, by path.',
        z
          .object({ files: z.array(File) })
          .strict()
          .meta({ id: 'WorkspaceFiles' }),
      ),
      ...problems(403, 409),
    },
  },
  {
    method: 'get',
    path: '/workspace_files/managed',
    operationId: 'listManagedResources',
    tags,
    summary: 'List the resources a directory of workspace files manages (set by apply)',
    responses: { 200: json('By kind, then name.', z.object({ data: z.array(Managed) }).strict()), ...problems(403) },
  },
  {
    method: 'post',
    path: '/workspace_files/plan',
    operationId: 'planWorkspaceFiles',
    'x-audit': false,
    tags,
    summary: 'What applying a directory of workspace files would change; changes nothing',
    description:
      'Every file is validated as the API validates its resource; names, secret references and their values are ' +
      'checked: a 422 lists every problem, each `path` as `<file>#<JSON pointer>`.',
    request: { body: jsonBody(PlanBody) },
    responses: { 200: json('The plan, in apply’s order.', Plan), ...problems(403, 413, 415) },
  },
  {
    method: 'post',
    path: '/workspace_files/apply',
    operationId: 'applyWorkspaceFiles',
    'x-audit': { action: 'workspace.apply', resource: 'workspace' },
    tags,
    summary: 'Make the workspace match a directory of workspace files',
    description:
      'The plan first (a problem: 422, nothing changes), then each change as its own API operation (its audit event ' +
      'says `via: workspace.apply`), in dependency order; deletions only with `prune`. A failed step stops the apply: ' +
      '`outcome: failed`, what was applied and what was not; applying the same files again finishes.',
    request: { body: jsonBody(ApplyBody) },
    responses: { 200: json('What was applied.', ApplyResult), ...problems(403, 413, 415) },
  },
];
