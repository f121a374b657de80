import type { Catalog, QuotaMatch } from '@toolplane/contracts';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import type { Quota as QuotaRow } from '../../generated/prisma/client.ts';
import { isUuid } from '../../db/ids.ts';
import { publishWorkspaceAccess } from '../access-policies/publish.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { windowProblem, type CreateQuotaBody, type UpdateQuotaBody } from './schemas.ts';
import { given, workspaceRows } from '../rows.ts';

function present(row: QuotaRow) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    match: row.match as QuotaMatch,
    counts: row.counts,
    limit: row.limit,
    window: row.window,
    timeZone: row.timeZone,
    per: row.per,
    enforce: row.enforce,
    alertWebhookUrl: row.alertWebhookUrl,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const quotaRows = workspaceRows((db) => db.quota, { what: 'quota', one: 'a quota' }, present);
const byId = quotaRows.byId;

/**
 * The names of the tools and event types (MCP Events: quotas count deliveries, guardrails scan payloads, by the event
 * type's name as a tool's) the workspace's servers (or `serverIds`) expose in their live catalogs.
 */
export async function exposedTools(db: Db, workspaceId: string, serverIds: string[] | undefined): Promise<Set<string>> {
  const servers = await db.mcpServer.findMany({
    where: { workspaceId, ...(serverIds ? { id: { in: serverIds } } : {}) },
    select: { id: true, catalogVersion: true },
  });
  if (servers.length === 0) return new Set();

  const live = await db.catalogVersion.findMany({
    where: { OR: servers.map((s) => ({ serverId: s.id, version: s.catalogVersion })) },
    select: { catalog: true },
  });
  return new Set(
    live.flatMap((v) => {
      const catalog = v.catalog as Pick<Catalog, 'tools' | 'events'> | null;
      return [...(catalog?.tools ?? []).map((t) => t.tool.name), ...(catalog?.events ?? []).map((e) => e.event.name)];
    }),
  );
}

/** Every name the quota matches on that the workspace does not have: servers, tools, API keys, people (422). */
async function unknownNames(db: Db, workspaceId: string, match: QuotaMatch): Promise<ProblemIssue[]> {
  const problems: ProblemIssue[] = [];
  const missing = (field: string, given: string[] | undefined, found: Set<string>, what: string) =>
    (given ?? []).forEach((v, i) => {
      if (!found.has(v))
        problems.push({ path: `/match/${field}/${i}`, message: `no ${what} "${v}" in this workspace` });
    });
  const ids = (list: string[] | undefined) => (list ?? []).filter(isUuid);
  if (match.servers) {
    const rows = await db.mcpServer.findMany({
      where: { workspaceId, id: { in: ids(match.servers) } },
      select: { id: true },
    });
    missing('servers', match.servers, new Set(rows.map((r) => r.id)), 'MCP server (by id)');
  }
  if (match.apiKeys) {
    const rows = await db.apiKey.findMany({
      where: { workspaceId, id: { in: ids(match.apiKeys) } },
      select: { id: true },
    });
    missing('apiKeys', match.apiKeys, new Set(rows.map((r) => r.id)), 'API key (by id)');
  }
  if (match.people) {
    const rows = await db.externalUser.findMany({
      where: { workspaceId, name: { in: match.people } },
      select: { name: true },
    });
    missing('people', match.people, new Set(rows.map((r) => r.name)), 'external user');
  }
  const named = (match.tools ?? []).filter((t) => !t.includes('*'));
  if (named.length > 0) {
    const exposed = await exposedTools(db, workspaceId, match.servers?.filter(isUuid));
    (match.tools ?? []).forEach((t, i) => {
      if (!t.includes('*') && !exposed.has(t))
        problems.push({ path: `/match/tools/${i}`, message: `no server of the quota exposes a tool "${t}"` });
    });
  }
  return problems;
}

async function refuseInvalid(db: Db, workspaceId: string, q: { name: string; match: QuotaMatch }, except?: string) {
  const problems = await unknownNames(db, workspaceId, q.match);
  await quotaRows.refuseTakenName(db, workspaceId, q.name, except);
  if (problems.length > 0) throw new ValidationError('the quota is invalid', problems);
}

/** `POST /quotas`: a quota, published to every edge with the workspace's policies (ADR 0048). */
/** What `POST /quotas` refuses (422) before making anything, and before its creation is held (four eyes). */
export async function checkNewQuota({ db }: ControlPlaneDeps, { body, caller }: Input<CreateQuotaBody>) {
  await refuseInvalid(db, caller.workspaceId, body);
}

export async function createQuota({ db, publisher }: ControlPlaneDeps, { body, caller }: Input<CreateQuotaBody>) {
  const { workspaceId } = caller;
  await refuseInvalid(db, workspaceId, body);
  const row = await db.quota.create({
    data: {
      workspaceId,
      name: body.name,
      description: body.description ?? null,
      match: body.match,
      counts: body.counts,
      limit: body.limit,
      window: body.window ?? null,
      timeZone: body.timeZone ?? null,
      per: body.per ?? null,
      enforce: body.enforce ?? true,
      alertWebhookUrl: body.alertWebhookUrl ?? null,
    },
  });
  await publishWorkspaceAccess(db, publisher, workspaceId);
  return present(row);
}

/** `GET /quotas`: the workspace's quotas, oldest first. */
export const listQuotas = quotaRows.list;

/** `GET /quotas/{id}`. */
export const getQuota = quotaRows.get;

/**
 * What `PATCH /quotas/{id}` refuses (422) before changing anything, and before its change is held (four eyes): counts
 * and window checked as they will be, names the match gives. The quota and its counts and window as changed.
 */
export async function checkQuotaUpdate({ db }: ControlPlaneDeps, { body, params, caller }: Input<UpdateQuotaBody>) {
  const { workspaceId } = caller;
  const row = await byId(db, workspaceId, params.id!);
  const counts = body.counts ?? row.counts;
  const window = body.window !== undefined ? body.window : row.window;
  const wrong = windowProblem(counts, window);
  if (wrong) throw new ValidationError('the quota is invalid', [{ path: '/window', message: wrong }]);
  await refuseInvalid(
    db,
    workspaceId,
    { name: body.name ?? row.name, match: body.match ?? (row.match as QuotaMatch) },
    row.id,
  );
  return { row, counts, window };
}

/** `PATCH /quotas/{id}`: the fields given replace the quota's; counts and window are checked as they will be. */
export async function updateQuota(deps: ControlPlaneDeps, input: Input<UpdateQuotaBody>) {
  const { db, publisher } = deps;
  const { body, caller } = input;
  const { workspaceId } = caller;
  const { row, counts, window } = await checkQuotaUpdate(deps, input);
  const updated = await db.quota.update({
    where: { id: row.id },
    data: {
      ...given(body, 'name', 'description', 'match'),
      counts,
      window,
      ...given(body, 'limit', 'timeZone', 'per', 'enforce', 'alertWebhookUrl'),
    },
  });
  await publishWorkspaceAccess(db, publisher, workspaceId);
  return present(updated);
}

/** `DELETE /quotas/{id}`: its counters stop counting at once (they expire with their windows). */
export async function deleteQuota({ db, publisher }: ControlPlaneDeps, { params, caller }: Input): Promise<void> {
  const row = await byId(db, caller.workspaceId, params.id!);
  await db.quota.delete({ where: { id: row.id } });
  await publishWorkspaceAccess(db, publisher, caller.workspaceId);
}
