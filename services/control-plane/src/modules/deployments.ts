import { createHash } from 'node:crypto';
import { NotFoundError, ValidationError } from '@toolplane/errors';
import { compileWorkflowDocument, type WorkflowTool } from '@toolplane/workflow';
import { type Response, Router } from 'express';
import { z } from 'zod';
import type { CatalogService } from '../catalog/service.ts';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import { isUuid } from './ids.ts';
import { findServer as findServerIn } from './servers.ts';

/**
 * Workflow deployments, Bump-compatible: `POST /api/v1/mcp_servers/{id}/deploy` with
 * `{definition, references?}` → 201 `{id, mcp_server_id}`, 204 when the same document is already
 * active, 422 `{message, errors}`. A deployment is `deploying`, then `active` (the previous active one
 * becomes `superseded`) or `errored`. The server's catalog always carries the tools of its latest
 * active deployment (`withWorkflowTools`, called by `compileCatalog`).
 */

export const DeployBody = z.object({
  /** The workflow document, YAML or JSON text (Bump: `definition`). */
  definition: z.string().min(1, 'the workflow document is empty'),
  /** Documents the Arazzo source descriptions resolve to. */
  references: z
    .array(z.object({ location: z.string().min(1), content: z.union([z.string(), z.record(z.string(), z.unknown())]) }))
    .max(50)
    .default([]),
  /** Base URL per Arazzo source description name (replaces the servers of its OpenAPI document). */
  servers: z
    .record(
      z.string(),
      z
        .string()
        .url()
        .refine((u) => /^https?:/i.test(u), 'must be an http(s) URL'),
    )
    .default({}),
});

/** `?dry_run=true`: compile and validate only; nothing is stored and the server does not change. */
export const DeployQuery = z.object({
  dry_run: z
    .enum(['true', 'false'])
    .optional()
    .describe('`true`: validate and compile the document, answer with the tools it would create; nothing changes.'),
});

function digestOf(body: z.infer<typeof DeployBody>): string {
  return createHash('sha256')
    .update(JSON.stringify([body.definition, body.references, Object.entries(body.servers).sort()]))
    .digest('hex');
}

function unprocessable(
  res: Response,
  message: string,
  errors: { path: string; message: string }[],
  extra: Record<string, unknown> = {},
): void {
  res.status(422).json({ message, errors, ...extra });
}

interface DeploymentRow {
  id: string;
  serverId: string;
  state: string;
  format: string | null;
  tools: unknown;
  warnings: unknown;
  errors: unknown;
  createdAt: Date;
  activatedAt: Date | null;
}

function present(d: DeploymentRow) {
  return {
    id: d.id,
    mcp_server_id: d.serverId,
    state: d.state,
    format: d.format,
    tools: (d.tools as WorkflowTool[]).map((t) => t.name),
    warnings: d.warnings,
    errors: d.errors,
    created_at: d.createdAt,
    activated_at: d.activatedAt,
  };
}

export function deploymentsRouter(db: Db, catalog: CatalogService, maxBodyBytes: number): Router {
  const r = Router();
  r.use(jsonBody(maxBodyBytes));

  /** Bump accepts an id or a slug: ours are UUIDs or the server's name. */
  const findServer = (workspaceId: string, idOrName: string) => findServerIn(db, workspaceId, idOrName);

  r.post('/:id/deploy', async (req, res) => {
    const { workspaceId } = caller(req);
    const server = await findServer(workspaceId, req.params.id);
    const parsed = DeployBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      return void unprocessable(
        res,
        'Invalid MCP server deployment request',
        parsed.error.issues.map((i) => ({ path: `/${i.path.map(String).join('/')}`, message: i.message })),
      );
    }
    const body = parsed.data;
    const query = DeployQuery.safeParse(req.query);
    if (!query.success) {
      return void unprocessable(
        res,
        'Invalid MCP server deployment request',
        query.error.issues.map((i) => ({ path: `/${i.path.map(String).join('/')}`, message: i.message })),
      );
    }
    if (query.data.dry_run === 'true') {
      let checked: ReturnType<typeof compileWorkflowDocument>;
      try {
        checked = compileWorkflowDocument(body.definition, { references: body.references, servers: body.servers });
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        return void unprocessable(res, `Invalid definition file: ${err.message}`, err.issues, {
          mcp_server_id: server.id,
        });
      }
      return void res.status(200).json({
        mcp_server_id: server.id,
        state: 'validated',
        format: checked.ir.format,
        tools: checked.tools.map((t) => t.name),
        warnings: checked.warnings,
      });
    }
    const digest = digestOf(body);
    const active = await db.workflowDeployment.findFirst({
      where: { serverId: server.id, state: 'active' },
      orderBy: { activatedAt: 'desc' },
    });
    if (active?.digest === digest) return void res.status(204).end();

    const row = await db.workflowDeployment.create({
      data: {
        workspaceId,
        serverId: server.id,
        state: 'deploying',
        digest,
        definition: body.definition,
        references: body.references as object[],
        servers: body.servers,
      },
    });
    let compiled: ReturnType<typeof compileWorkflowDocument>;
    try {
      compiled = compileWorkflowDocument(body.definition, { references: body.references, servers: body.servers });
    } catch (err) {
      const issues =
        err instanceof ValidationError ? err.issues : [{ path: '', message: 'the document could not be compiled' }];
      await db.workflowDeployment.update({
        where: { id: row.id },
        data: { state: 'errored', errors: issues as unknown as object[] },
      });
      if (!(err instanceof ValidationError)) throw err;
      return void unprocessable(res, `Invalid definition file: ${err.message}`, issues, {
        id: row.id,
        mcp_server_id: server.id,
      });
    }

    // Activation, the superseded previous deployment and the server's new catalog version succeed or fail together.
    try {
      await catalog.change({ serverIds: [server.id] }, async (tx) => {
        await tx.workflowDeployment.updateMany({
          where: { serverId: server.id, state: 'active' },
          data: { state: 'superseded' },
        });
        await tx.workflowDeployment.update({
          where: { id: row.id },
          data: {
            state: 'active',
            format: compiled.ir.format,
            ir: compiled.ir as unknown as object,
            tools: compiled.tools as unknown as object[],
            warnings: compiled.warnings as unknown as object[],
            activatedAt: new Date(),
          },
        });
        return { result: row.id };
      });
    } catch (err) {
      await db.workflowDeployment.update({
        where: { id: row.id },
        data: { state: 'errored', errors: [{ path: '', message: 'the deployment could not be activated' }] },
      });
      throw err;
    }
    res.status(201).json({
      id: row.id,
      mcp_server_id: server.id,
      state: 'active',
      tools: compiled.tools.map((t) => t.name),
      warnings: compiled.warnings,
    });
  });

  r.get('/:id/deployments', async (req, res) => {
    const server = await findServer(caller(req).workspaceId, req.params.id);
    const rows = await db.workflowDeployment.findMany({
      where: { serverId: server.id },
      orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      take: 100,
    });
    res.json({ data: rows.map(present) });
  });

  r.get('/:id/deployments/:deploymentId', async (req, res) => {
    const server = await findServer(caller(req).workspaceId, req.params.id);
    const row = isUuid(req.params.deploymentId)
      ? await db.workflowDeployment.findFirst({ where: { id: req.params.deploymentId, serverId: server.id } })
      : null;
    if (!row) throw new NotFoundError('deployment', req.params.deploymentId);
    res.json({ ...present(row), definition: row.definition });
  });

  return r;
}
