import type { GuardrailDetector } from '@toolplane/contracts';
import { z } from 'zod';
import { ruleToolProblems } from '../quotas/rule-tool-files.ts';
import { looseningOf } from '../change-requests/workspace-file-loosening.ts';
import {
  byName,
  fieldsOf,
  idOf,
  liveRows,
  markerOnly,
  run,
  withDefault,
  type WorkspaceFileKind,
} from '../workspace-files/kind.ts';
import { guardrailsOperations } from './operations.ts';
import { checkPatterns, CreateGuardrailBody } from './schemas.ts';

/** What the API does with an optional guardrail field left out of a create (the others: none). */
const guardrailDefaults: Record<string, unknown> = { tools: [], on: ['results'], enforce: true };

/**
 * A guardrail's file (ADR 0050): the API's create body (`POST /guardrails`) with each optional field written out as the
 * API's default, its server by name (`server`, where the API takes `serverId`; null: every server of the workspace).
 * Checked as the API checks the body: tools only with a server, every pattern RE2 takes.
 */
export const GuardrailSpec = z
  .strictObject(
    Object.fromEntries(
      Object.entries(CreateGuardrailBody.shape).map(([key, field]: [string, z.ZodType]) =>
        key === 'serverId'
          ? ['server', z.string().min(1).nullable().default(null)]
          : [key, withDefault(key, field, guardrailDefaults)],
      ),
    ) as Record<string, z.ZodType>,
  )
  .superRefine((g, ctx) => {
    if ((g.tools as string[]).length > 0 && g.server === null)
      ctx.addIssue({ code: 'custom', path: ['tools'], message: 'tools are named with the server that exposes them' });
    checkPatterns(g as { detectors?: GuardrailDetector[] }, ctx);
  });

/** Guardrails (`guardrails/<name>.yaml`): each field its file has as the row holds it, the server by name. */
export const guardrailFiles: WorkspaceFileKind = {
  kind: 'guardrail',
  check: (plan) => ruleToolProblems('guardrail', plan),
  ...looseningOf('guardrail'),
  dir: 'guardrails',
  schema: GuardrailSpec,
  refers: (s) =>
    s.server === null ? [] : [{ kind: 'server', name: String(s.server), path: '/server', what: 'MCP server' }],
  async live(ctx) {
    const serverNames = ctx.names('server');
    const rows = await ctx.deps.db.guardrail.findMany(byName(ctx));
    return liveRows(ctx, 'guardrail', rows, (r) => {
      const server = r.serverId === null ? null : (serverNames.get(r.serverId) ?? r.serverId);
      return fieldsOf(GuardrailSpec, r, { server });
    });
  },
  /** The API's body: every field of its file, its server by id (null: the workspace's). */
  write(c, ctx) {
    if (markerOnly(c)) return undefined;
    const { server, ...fields } = c.desired!.spec;
    const body = { ...fields, serverId: server === null ? null : idOf(ctx, 'server', String(server)) };
    if (c.action === 'create') return run(guardrailsOperations, 'createGuardrail', { body });
    return run(guardrailsOperations, 'updateGuardrail', { params: { id: c.live!.id }, body });
  },
  remove: (c) => run(guardrailsOperations, 'deleteGuardrail', { params: { id: c.live!.id } }),
};
