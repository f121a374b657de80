import { z } from 'zod';
import { json, jsonBody, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';
import { AddFromCatalogBody, ApiCatalogQuery } from './schemas.ts';
import { Connector } from '../connectors/openapi.ts';

/** One API of the catalog (`CatalogApi` in api-catalog-source.ts, plus the workspace's connector of it). */
const ApiCatalogEntry = z
  .object({
    id: z.string().describe('The APIs.guru id, `<provider>` or `<provider>:<service>` (`1password.com:events`).'),
    title: z.string(),
    provider: z.string(),
    service: z.string().optional(),
    description: z.string().optional().describe('The start of its description (Markdown, at most 300 characters).'),
    categories: z.array(z.string()).describe('APIs.guru categories (`financial`, `developer_tools`, …).'),
    version: z.string().describe('The version the catalog lists (its document’s `info.version`).'),
    openapiVersion: z.string().optional().describe('`2.0` (Swagger) or the OpenAPI 3 version of the document.'),
    connectorId: z
      .uuid()
      .nullable()
      .describe('The workspace’s connector added from it (its catalog slug; the newest), or null.'),
  })
  .strict()
  .meta({ id: 'ApiCatalogEntry' });

const ApiCatalogPage = z
  .object({
    data: z.array(ApiCatalogEntry).describe('Best match first with `q`; by title without.'),
    pagination: z.object({ page: z.number().int(), limit: z.number().int(), total: z.number().int() }).strict(),
    categories: z
      .array(z.object({ name: z.string(), count: z.number().int() }).strict())
      .describe('Every category of the catalog and how many APIs it has (for a filter).'),
    source: z
      .object({ kind: z.enum(['url', 'directory']), url: z.string().optional() })
      .strict()
      .describe('Where the catalog is read from (`API_CATALOG_SOURCE`; a directory’s path is not shown).'),
    indexedAt: z.iso.datetime().describe('When the source was last read.'),
  })
  .strict()
  .meta({ id: 'ApiCatalogPage' });

const tags = ['api catalog'];

/** The API catalog routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const apiCatalogRoutes: RouteDoc[] = [
  {
    method: 'get',
    path: '/api_catalog',
    operationId: 'searchApiCatalog',
    tags,
    summary: 'Search the API catalog (APIs.guru) by words and category',
    description:
      '`q` matches titles, provider and service names, categories and descriptions (BM25; every word first, ' +
      'any word when no API has them all); `category` keeps one category. The first call after start (or ' +
      'after `API_CATALOG_CACHE_MINUTES`) reads the source; 503 when it cannot be read and no older index is at hand.',
    request: { query: ApiCatalogQuery.meta({ id: 'ApiCatalogQuery' }) },
    responses: {
      200: json('A page of matching APIs.', ApiCatalogPage),
      ...problems(403),
    },
  },
  {
    method: 'post',
    path: '/api_catalog/{id}/add',
    operationId: 'addFromApiCatalog',
    'x-audit': { action: 'connector.add_from_catalog', resource: 'connector' },
    tags,
    summary: 'Add an API of the catalog as an OpenAPI connector',
    description:
      'Fetches the API’s document (through a worker for a listing URL) and imports it as uploading it in the ' +
      'OpenAPI envelope with `slug` would: every operation a tool, the security schemes its `credentialFields`. ' +
      'Added already (same slug and version): 409, its detail naming the connector; pass another `slug` for a ' +
      'second copy. An unknown id: 404. A document the importer refuses: 422. The source unreachable: 503.',
    request: {
      params: pathParams('id'),
      body: { ...jsonBody(AddFromCatalogBody.meta({ id: 'AddFromCatalogBody' })), required: false },
    },
    responses: {
      201: json('The connector.', Connector),
      ...problems(403, 404, 409, 413, 415),
    },
  },
];
