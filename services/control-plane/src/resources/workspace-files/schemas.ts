import { z } from 'zod';

const WorkspaceFileBody = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .max(500)
      .regex(/^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[^\\\0]+$/, 'must be a relative path inside the directory')
      .describe('The file’s path relative to the directory, `/`-separated (`mcp-servers/tickets.yaml`).'),
    content: z.string().describe('The file’s text.'),
  })
  .meta({ id: 'WorkspaceFile' });

const Files = z.array(WorkspaceFileBody).max(5000).describe('Every file of the directory (docs/gitops.md, "Layout").');

const Prune = z
  .boolean()
  .default(false)
  .describe('Resources of the workspace no file names are deleted (else kept, `unmanaged`).');

export const PlanBody = z
  .strictObject({
    files: Files,
    prune: Prune,
    provided: z
      .array(z.string().regex(/^(env|secret):.+$/))
      .max(5000)
      .default([])
      .describe('The references the client has a value for (`env:NAME`, `secret:NAME`): names only, never values.'),
  })
  .meta({ id: 'WorkspacePlanBody' });
export type PlanBody = z.output<typeof PlanBody>;

export const ApplyBody = z
  .strictObject({
    files: Files,
    prune: Prune,
    values: z
      .record(z.string().regex(/^(env|secret):.+$/), z.string().min(1).max(65_536))
      .default({})
      .describe(
        'The values of the references apply writes (`env:NAME`, `secret:NAME` → value): sealed into the secrets ' +
          'store, never stored elsewhere or answered.',
      ),
  })
  .meta({ id: 'WorkspaceApplyBody' });
export type ApplyBody = z.output<typeof ApplyBody>;

/** A proposed change as workspace files (the backtest's, reachability's and four eyes' bodies): 1 to 1,000 of them. */
export function proposedFiles(description: string) {
  return z.array(WorkspaceFileBody).min(1).max(1000).describe(description);
}
