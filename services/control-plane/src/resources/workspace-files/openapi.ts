import { z } from 'zod';
import { Problem } from '../../openapi/registry.ts';

// The answers of the workspace files operations (operations.ts).

const kind = z.enum([
  'secret',
  'external_mcp_server',
  'connector',
  'connector_instance',
  'server',
  'workflow_deployment',
  'external_user',
  'enterprise_idp',
  'api_key',
  'access_policy',
  'quota',
  'guardrail',
  'role_mapping',
  'session',
]);

const File = z.strictObject({ path: z.string(), content: z.string() });

const Change = z
  .strictObject({
    kind,
    name: z.string(),
    file: z.string().describe('The file that describes it (a deletion: the file an export would write).'),
    action: z
      .enum(['create', 'update', 'delete', 'unchanged', 'unmanaged'])
      .describe('`unmanaged`: in the workspace, in no file, kept (`prune` deletes it; never the calling key).'),
    fields: z.array(z.string()).describe('What an update changes; `managed`: only apply’s marker (adopting it).'),
    loosens: z.literal(true).optional().describe('The change loosens a rule (four eyes on loosening, ADR 0079).'),
    loosenedFields: z.array(z.string()).optional().describe('With `loosens`: the fields it loosens.'),
  })
  .meta({ id: 'WorkspaceChange' });

const Summary = z.strictObject({
  create: z.number().int(),
  update: z.number().int().describe('Updates that change the workspace (not counting `adopt`).'),
  adopt: z
    .number()
    .int()
    .describe(
      'Updates that only adopt a resource already matching its file (`fields: ["managed"]`, apply’s marker): no ' +
        'change to the workspace, so a plan of a fresh export has no changes; apply records them as managed by files.',
    ),
  delete: z.number().int(),
  unchanged: z.number().int(),
  unmanaged: z.number().int(),
});

export const Plan = z.strictObject({ changes: z.array(Change), summary: Summary }).meta({ id: 'WorkspacePlan' });

export const ApplyResult = z
  .strictObject({
    outcome: z.enum(['applied', 'failed', 'waits_for_approval']),
    applied: z.array(Change).describe('Done, in order.'),
    notApplied: z
      .array(Change)
      .describe('After a failure or a change waiting for approval: not done (the same files applied again do them).'),
    failed: Change.extend({ problem: Problem })
      .strict()
      .optional()
      .describe('The change that failed, with the problem its operation answered.'),
    waiting: Change.extend({
      changeRequest: z.strictObject({ id: z.string(), expiresAt: z.string() }),
      key: z
        .string()
        .optional()
        .describe('An API key’s creation: its value, shown once; the key works once the creation is approved.'),
    })
      .strict()
      .optional()
      .describe('With four eyes on loosening: the loosening change apply stopped before, and its change request.'),
    createdKeys: z
      .array(z.strictObject({ name: z.string(), id: z.uuid(), key: z.string() }))
      .describe('API keys apply created, each with its value: shown once.'),
    summary: Summary,
  })
  .meta({ id: 'WorkspaceApplyResult' });

export const Managed = z
  .strictObject({ kind, name: z.string(), file: z.string(), appliedAt: z.iso.datetime() })
  .meta({ id: 'ManagedResource' });

export const WorkspaceFiles = z.strictObject({ files: z.array(File) }).meta({ id: 'WorkspaceFiles' });
