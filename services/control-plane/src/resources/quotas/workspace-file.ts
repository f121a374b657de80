import { QuotaMatch } from '@toolplane/contracts';
import type { z } from 'zod';
import {
  byName,
  fieldsOf,
  idOf,
  liveRows,
  markerOnly,
  run,
  withDefault,
  type LiveContext,
  type NamedResource,
  type WorkspaceFileKind,
} from '../workspace-files/kind.ts';
import { ruleToolProblems } from './rule-tool-files.ts';
import { looseningOf } from '../change-requests/workspace-file-loosening.ts';
import { quotasOperations } from './operations.ts';
import { CreateQuotaBody } from './schemas.ts';

/** What the API does with an optional quota field left out of a create (`enforce`: true; the others: none). */
const quotaDefaults: Record<string, unknown> = { enforce: true };

/**
 * A quota's file: the API's create body (`POST /quotas`), so that a field the API gains is a field of the file, with
 * each optional field written out as the API's default. Its `match` names servers and API keys by name (people by
 * name, as the API does); apply gives the API their ids.
 */
const QuotaSpec = CreateQuotaBody.safeExtend(
  Object.fromEntries(
    Object.entries(CreateQuotaBody.shape).map(([key, field]: [string, z.ZodType]) => [
      key,
      withDefault(key, field, quotaDefaults),
    ]),
  ) as Record<string, z.ZodType>,
);

/** A quota's match as its file holds it: servers and API keys by name (an unknown id stays as it is), in a fixed order. */
function matchByName(stored: unknown, ctx: LiveContext) {
  const match = (stored ?? {}) as Record<string, unknown>;
  const byName = (list: unknown, of: Map<string, string>) => (list as string[]).map((id) => of.get(id) ?? id);
  return Object.fromEntries(
    Object.keys(QuotaMatch.shape).flatMap((field) => {
      const value = match[field];
      if (value === undefined) return [];
      if (field === 'servers') return [[field, byName(value, ctx.names('server'))]];
      if (field === 'apiKeys') return [[field, byName(value, ctx.names('api_key'))]];
      return [[field, value]];
    }),
  );
}

/** The servers, API keys and people a quota's match names (each must exist; `*` is a name like any other here). */
function matchNames(s: Record<string, unknown>): NamedResource[] {
  const match = s.match as { servers?: string[]; apiKeys?: string[]; people?: string[] };
  const each = (list: string[] | undefined, kind: string, path: string, what: string) =>
    (list ?? []).map((name, i) => ({ kind, name, path: `${path}/${i}`, what }));
  return [
    ...each(match.servers, 'server', '/match/servers', 'MCP server'),
    ...each(match.apiKeys, 'api_key', '/match/apiKeys', 'API key'),
    ...each(match.people, 'external_user', '/match/people', 'external user'),
  ];
}

/** Quotas (`quotas/<name>.yaml`, ADR 0048): each field its file has, as the quota's row holds it. */
export const quotaFiles: WorkspaceFileKind = {
  kind: 'quota',
  check: (plan) => ruleToolProblems('quota', plan),
  ...looseningOf('quota'),
  dir: 'quotas',
  schema: QuotaSpec,
  refers: matchNames,
  async live(ctx) {
    const rows = await ctx.deps.db.quota.findMany(byName(ctx));
    return liveRows(ctx, 'quota', rows, (r) => fieldsOf(QuotaSpec, r, { match: matchByName(r.match, ctx) }));
  },
  /** The API's body: every field of its file, the servers and API keys its match names by their ids. */
  write(c, ctx) {
    if (markerOnly(c)) return undefined;
    const s = c.desired!.spec;
    const match = { ...(s.match as Record<string, unknown>) };
    if (match.servers) match.servers = (match.servers as string[]).map((n) => idOf(ctx, 'server', n));
    if (match.apiKeys) match.apiKeys = (match.apiKeys as string[]).map((n) => idOf(ctx, 'api_key', n));
    const body = { ...s, match };
    if (c.action === 'create') return run(quotasOperations, 'createQuota', { body });
    return run(quotasOperations, 'updateQuota', { params: { id: c.live!.id }, body });
  },
  remove: (c) => run(quotasOperations, 'deleteQuota', { params: { id: c.live!.id } }),
};
