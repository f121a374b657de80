import { PolicyPrincipal, type WorkspaceAccess } from '@toolplane/contracts';
import { NotFoundError, ValidationError, type ProblemIssue } from '@toolplane/errors';
import express, { type Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import { requestIssues } from '../http/error-handler.ts';
import { publicationResources, type RuntimePublisher } from '../publisher.ts';
import { isUuid } from './ids.ts';
import { apiRouter } from '../http/route-access.ts';

const Names = (what: string) =>
  z.array(z.string().min(1).max(200)).min(1, `name at least one ${what}, or ["*"]`).max(500);

export const PolicyBody = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'must be 1-100 letters, digits, ".", "-" or "_"'),
    description: z.string().max(1000).nullable().optional(),
    principals: z.array(PolicyPrincipal.strict()).min(1, 'name at least one principal').max(500),
    servers: Names('server id'),
    tools: Names('tool name'),
  })
  .strict();
export const UpdatePolicyBody = PolicyBody.partial().strict();

type PolicyRow = {
  id: string;
  workspaceId: string;
  name: string;
  description: string | null;
  principals: unknown;
  servers: string[];
  tools: string[];
  createdAt: Date;
  updatedAt: Date;
};

function present(row: PolicyRow) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    principals: row.principals,
    servers: row.servers,
    tools: row.tools,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/**
 * Validates a body (all of `schema`'s problems and the references to keys and servers together, so
 * that one 422 lists every problem) and returns it.
 */
async function validate<T extends Partial<z.infer<typeof PolicyBody>>>(
  db: Db,
  workspaceId: string,
  schema: z.ZodType<T>,
  raw: unknown,
  what: string,
): Promise<T> {
  const parsed = schema.safeParse(raw ?? {});
  const issues: ProblemIssue[] = parsed.success ? [] : requestIssues(parsed.error);
  // References are checked on whatever is readable, even when other fields are invalid.
  const lenient = (raw ?? {}) as { principals?: unknown; servers?: unknown; tools?: unknown };
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
  const readable = {
    servers:
      Array.isArray(lenient.servers) && lenient.servers.every((x) => typeof x === 'string')
        ? strings(lenient.servers)
        : undefined,
    tools: strings(lenient.tools),
    principals: Array.isArray(lenient.principals)
      ? lenient.principals.map((p) =>
          PolicyPrincipal.safeParse(p).success ? (p as PolicyPrincipal) : { type: 'invalid' as never, value: '' },
        )
      : undefined,
  };
  const refs = await referenceIssues(db, workspaceId, readable);
  for (const issue of refs) if (!issues.some((i) => i.path === issue.path)) issues.push(issue);
  if (issues.length > 0 || !parsed.success)
    throw new ValidationError(`the ${what} is invalid`, issues, 'request.invalid');
  return parsed.data;
}

/** Checks that need the database, listing every problem: keys and servers of this workspace, "*" alone. */
async function referenceIssues(
  db: Db,
  workspaceId: string,
  body: { principals?: PolicyPrincipal[] | undefined; servers?: string[] | undefined; tools?: string[] | undefined },
): Promise<ProblemIssue[]> {
  const issues: ProblemIssue[] = [];
  const wildcardAlone = (list: string[] | undefined, path: string) => {
    if (list && list.includes('*') && list.length > 1) issues.push({ path, message: '"*" must be the only entry' });
  };
  wildcardAlone(body.servers, '/servers');
  wildcardAlone(body.tools, '/tools');
  const keyIds = (body.principals ?? []).map((p, i) => ({ p, i })).filter(({ p }) => p.type === 'api_key');
  const candidates = keyIds.map(({ p }) => p.value).filter(isUuid);
  const keys = new Set(
    (await db.apiKey.findMany({ where: { workspaceId, id: { in: candidates } }, select: { id: true } })).map(
      (k) => k.id,
    ),
  );
  for (const { p, i } of keyIds) {
    if (p.value === '*')
      issues.push({
        path: `/principals/${i}/value`,
        message: 'api_key principals name one key id ("*" is implicit: unnamed keys keep workspace-wide access)',
      });
    else if (!keys.has(p.value))
      issues.push({ path: `/principals/${i}/value`, message: `no API key ${p.value} in this workspace` });
  }
  const serverIds = (body.servers ?? []).filter((s) => s !== '*');
  const servers = new Set(
    (
      await db.mcpServer.findMany({
        where: { workspaceId, id: { in: serverIds.filter(isUuid) } },
        select: { id: true },
      })
    ).map((s) => s.id),
  );
  (body.servers ?? []).forEach((s, i) => {
    if (s !== '*' && !servers.has(s))
      issues.push({ path: `/servers/${i}`, message: `no MCP server ${s} in this workspace` });
  });
  return issues;
}

/** Publishes one workspace's policies for the edges (replacing the previous set as a whole). */
export function publishWorkspaceAccess(db: Db, publisher: RuntimePublisher, workspaceId: string): Promise<void> {
  // Read and written under the workspace's publication lock: an older read never overwrites a newer one (ADR 0017).
  return publisher.exclusive(publicationResources.access(workspaceId), async () => {
    const rows = await db.accessPolicy.findMany({
      where: { workspaceId },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    const access: WorkspaceAccess = {
      v: 1,
      workspaceId,
      policies: rows.map((r) => ({
        id: r.id,
        principals: r.principals as PolicyPrincipal[],
        servers: r.servers,
        tools: r.tools,
      })),
    };
    await publisher.publishAccess(access);
  });
}

/** At start: every workspace's policies (Redis may have restarted empty). */
export async function republishAccess(db: Db, publisher: RuntimePublisher): Promise<number> {
  const workspaces = await db.workspace.findMany({ select: { id: true } });
  for (const w of workspaces) await publishWorkspaceAccess(db, publisher, w.id);
  return workspaces.length;
}

/**
 * Access policies (ADR 0013): allow rules granting servers and tools to API keys, OAuth
 * subjects and groups, and external users. Stored here, published per workspace to Redis; the edge
 * decides on every tools/list and tools/call from its cached copy.
 */
export function accessPoliciesRouter(db: Db, publisher: RuntimePublisher, maxBodyBytes: number): Router {
  const r = apiRouter();
  r.use(jsonBody(maxBodyBytes));
  const byId = async (req: express.Request) => {
    const id = String(req.params.id);
    const row = isUuid(id)
      ? await db.accessPolicy.findFirst({ where: { id, workspaceId: caller(req).workspaceId } })
      : null;
    if (!row) throw new NotFoundError('access policy', id);
    return row;
  };
  const conflict = async (workspaceId: string, name: string, except?: string) => {
    const existing = await db.accessPolicy.findUnique({ where: { workspaceId_name: { workspaceId, name } } });
    if (existing && existing.id !== except)
      throw new ValidationError(
        'the access policy is invalid',
        [{ path: '/name', message: `a policy named "${name}" already exists` }],
        'resource.conflict',
        409,
      );
  };

  r.post('/', async (req, res) => {
    const { workspaceId } = caller(req);
    const body = await validate(db, workspaceId, PolicyBody, req.body, 'access policy');
    await conflict(workspaceId, body.name);
    const row = await db.accessPolicy.create({
      data: {
        workspaceId,
        name: body.name,
        description: body.description ?? null,
        principals: body.principals,
        servers: body.servers,
        tools: body.tools,
      },
    });
    await publishWorkspaceAccess(db, publisher, workspaceId);
    res.status(201).json(present(row));
  });

  r.get('/', async (req, res) => {
    const rows = await db.accessPolicy.findMany({
      where: { workspaceId: caller(req).workspaceId },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    res.json({ data: rows.map(present) });
  });

  r.get('/:id', async (req, res) => {
    res.json(present(await byId(req)));
  });

  r.patch('/:id', async (req, res) => {
    const row = await byId(req);
    const body = await validate(db, row.workspaceId, UpdatePolicyBody, req.body, 'access policy update');
    if (body.name !== undefined) await conflict(row.workspaceId, body.name, row.id);
    const updated = await db.accessPolicy.update({
      where: { id: row.id },
      data: {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.principals !== undefined ? { principals: body.principals } : {}),
        ...(body.servers !== undefined ? { servers: body.servers } : {}),
        ...(body.tools !== undefined ? { tools: body.tools } : {}),
      },
    });
    await publishWorkspaceAccess(db, publisher, row.workspaceId);
    res.json(present(updated));
  });

  r.delete('/:id', async (req, res) => {
    const row = await byId(req);
    await db.accessPolicy.delete({ where: { id: row.id } });
    await publishWorkspaceAccess(db, publisher, row.workspaceId);
    res.status(204).end();
  });
  return r;
}
