import { randomUUID } from 'node:crypto';
import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import type { ApiCatalog, Fetcher, IndexedApi } from './api-catalog-source.ts';
import { createConnector, openApiConnectorSource } from './connectors.ts';
import { apiRouter } from '../http/route-access.ts';

/**
 * `GET /api_catalog`: search the API catalog (api-catalog-source.ts) by words and category;
 * `POST /api_catalog/{id}/add`: add one of its APIs to the workspace as an OpenAPI connector, exactly as
 * uploading its document in the OpenAPI envelope with the catalog's slug would (docs/api.md, "API catalog").
 */

const slugPattern = /^[a-z0-9][a-z0-9-]{0,99}$/;

export const ApiCatalogQuery = z.object({
  q: z.string().max(200).optional(),
  category: z.string().max(100).optional(),
  page: z.coerce.number().int().min(1).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

export const AddFromCatalogBody = z
  .object({
    slug: z
      .string()
      .regex(slugPattern, 'must be lower-case letters, digits and dashes (1-100 chars)')
      .optional()
      .describe('The connector’s slug; default: the catalog id’s (`1password.com:events` → `1password-com-events`).'),
  })
  .strict();

/** The slug a catalog API's connector gets unless the request names another: its id in slug form. */
export function catalogSlug(id: string): string {
  const slug = id
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 100)
    .replace(/-+$/, '');
  return slugPattern.test(slug) ? slug : 'api';
}

/** How long a worker has to fetch a listing or document for the catalog. */
const fetchTimeoutMs = 60_000;

/** The catalog's fetches, made by a worker through its outbound guard (`document.fetch`). */
export function workerFetcher(tasks: DataPlaneTaskClient): Fetcher {
  return async (url, maxBytes) => {
    const r = await tasks.fetchDocument({
      v: 1,
      taskId: randomUUID(),
      kind: 'document.fetch',
      url,
      maxBytes,
      deadlineAt: Date.now() + fetchTimeoutMs,
      replyTo: tasks.clientId,
    });
    return r.ok && r.content !== undefined
      ? { ok: true, content: r.content }
      : { ok: false, error: r.error ?? 'the worker returned no content' };
  };
}

const conflict = (api: IndexedApi, row: { id: string; slug: string; version: string }) =>
  new UserError(
    'resource.conflict',
    `${api.id} is already in this workspace as connector ${row.slug}@${row.version} (${row.id}); ` +
      'pass another `slug` to add a second copy',
    { status: 409, details: { id: row.id } },
  );

export function apiCatalogRouter(
  db: Db,
  catalog: ApiCatalog,
  opts: { maxBodyBytes: number; maxDocumentBytes: number; importSlot: RequestHandler },
): Router {
  const r = apiRouter();
  const source = {
    kind: catalog.source.kind,
    ...(catalog.source.kind === 'url' ? { url: catalog.source.location } : {}),
  };

  r.get('/', async (req, res) => {
    const query = ApiCatalogQuery.parse(req.query);
    const { workspaceId } = caller(req);
    const found = await catalog.search(query);
    // Which of these the workspace has added (a connector of the catalog slug; the newest when several).
    const rows = await db.connector.findMany({
      where: { workspaceId, slug: { in: found.data.map((a) => catalogSlug(a.id)) } },
      select: { id: true, slug: true },
      orderBy: { createdAt: 'asc' },
    });
    const added = new Map(rows.map((row) => [row.slug, row.id]));
    res.json({
      data: found.data.map((a) => ({ ...a, connectorId: added.get(catalogSlug(a.id)) ?? null })),
      pagination: { page: query.page, limit: query.limit, total: found.total },
      categories: found.categories,
      source,
      indexedAt: found.indexedAt,
    });
  });

  r.post('/:id/add', opts.importSlot, ...jsonBody(opts.maxBodyBytes), async (req, res) => {
    const body = AddFromCatalogBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    const id = req.params.id as string;
    const api = await catalog.get(id);
    if (!api) throw new NotFoundError('catalog API', id);
    const slug = body.slug ?? catalogSlug(api.id);
    // Before fetching anything: the version the catalog lists (the document's, checked again below).
    const listed = await db.connector.findFirst({ where: { workspaceId, slug, version: api.version } });
    if (listed) throw conflict(api, listed);
    const text = await catalog.document(api);
    if (Buffer.byteLength(text) > opts.maxDocumentBytes)
      throw new ValidationError(`the document of ${api.id} is too large`, [
        {
          path: '',
          message: `it takes ${Buffer.byteLength(text)} bytes; MAX_DOCUMENT_BYTES allows ${opts.maxDocumentBytes}`,
        },
      ]);
    const connector = await openApiConnectorSource({ kind: 'openapi', slug, document: text }, text);
    const existing = await db.connector.findFirst({ where: { workspaceId, slug, version: connector.version } });
    if (existing) throw conflict(api, existing);
    res.status(201).json(await createConnector(db, workspaceId, connector));
  });
  return r;
}
