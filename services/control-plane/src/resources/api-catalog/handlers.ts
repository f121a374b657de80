import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import { openApiConnectorSource } from '../connectors/sources.ts';
import { createConnector } from '../connectors/store.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import type { AddFromCatalogBody, ApiCatalogQuery } from './schemas.ts';
import { catalogSlug } from './slug.ts';
import type { IndexedApi } from '../../documents/api-catalog.ts';

const conflict = (api: IndexedApi, row: { id: string; slug: string; version: string }) =>
  new UserError(
    'resource.conflict',
    `${api.id} is already in this workspace as connector ${row.slug}@${row.version} (${row.id}); ` +
      'pass another `slug` to add a second copy',
    { status: 409, details: { id: row.id } },
  );

/**
 * `GET /api_catalog`: searches the API catalog (source.ts) by words and category, each API with the workspace's
 * connector of it.
 */
export async function searchApiCatalog(
  { db, apiCatalog }: ControlPlaneDeps,
  { query, caller: { workspaceId } }: Input<undefined, ApiCatalogQuery>,
) {
  const found = await apiCatalog.search(query);
  // Which of these the workspace has added (a connector of the catalog slug; the newest when several).
  const rows = await db.connector.findMany({
    where: { workspaceId, slug: { in: found.data.map((a) => catalogSlug(a.id)) } },
    select: { id: true, slug: true },
    orderBy: { createdAt: 'asc' },
  });
  const added = new Map(rows.map((row) => [row.slug, row.id]));
  return {
    data: found.data.map((a) => ({ ...a, connectorId: added.get(catalogSlug(a.id)) ?? null })),
    pagination: { page: query.page, limit: query.limit, total: found.total },
    categories: found.categories,
    source: {
      kind: apiCatalog.source.kind,
      ...(apiCatalog.source.kind === 'url' ? { url: apiCatalog.source.location } : {}),
    },
    indexedAt: found.indexedAt,
  };
}

/**
 * `POST /api_catalog/{id}/add`: adds one of the catalog's APIs to the workspace as an OpenAPI connector, exactly as
 * uploading its document in the OpenAPI envelope with the catalog's slug would (docs/api.md, "API catalog").
 */
export async function addFromApiCatalog(
  { db, env, apiCatalog }: ControlPlaneDeps,
  { body, params, caller: { workspaceId } }: Input<AddFromCatalogBody>,
) {
  const id = params.id!;
  const api = await apiCatalog.get(id);
  if (!api) throw new NotFoundError('catalog API', id);
  const slug = body.slug ?? catalogSlug(api.id);
  // Before fetching anything: the version the catalog lists (the document's, checked again below).
  const listed = await db.connector.findFirst({ where: { workspaceId, slug, version: api.version } });
  if (listed) throw conflict(api, listed);
  const text = await apiCatalog.document(api);
  if (Buffer.byteLength(text) > env.MAX_DOCUMENT_BYTES)
    throw new ValidationError(`the document of ${api.id} is too large`, [
      {
        path: '',
        message: `it takes ${Buffer.byteLength(text)} bytes; MAX_DOCUMENT_BYTES allows ${env.MAX_DOCUMENT_BYTES}`,
      },
    ]);
  const connector = await openApiConnectorSource({ kind: 'openapi', slug, document: text }, text);
  const existing = await db.connector.findFirst({ where: { workspaceId, slug, version: connector.version } });
  if (existing) throw conflict(api, existing);
  return createConnector(db, workspaceId, connector);
}
