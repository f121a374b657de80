import { z } from 'zod';

/** One API of the catalog (`CatalogApi` in api-catalog-source.ts, plus the workspace's connector of it). */
const ApiCatalogEntry = z
  .strictObject({
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
  .meta({ id: 'ApiCatalogEntry' });

export const ApiCatalogPage = z
  .strictObject({
    data: z.array(ApiCatalogEntry).describe('Best match first with `q`; by title without.'),
    pagination: z.strictObject({ page: z.number().int(), limit: z.number().int(), total: z.number().int() }),
    categories: z
      .array(z.strictObject({ name: z.string(), count: z.number().int() }))
      .describe('Every category of the catalog and how many APIs it has (for a filter).'),
    source: z
      .strictObject({ kind: z.enum(['url', 'directory']), url: z.string().optional() })
      .describe('Where the catalog is read from (`API_CATALOG_SOURCE`; a directory’s path is not shown).'),
    indexedAt: z.iso.datetime().describe('When the source was last read.'),
  })
  .meta({ id: 'ApiCatalogPage' });
