import { audited, json, jsonBody, pathParams, problems } from '../../openapi/registry.ts';
import { Connector } from '../connectors/openapi.ts';
import { get, post, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { ApiCatalogPage } from './openapi.ts';
import { AddFromCatalogBody, ApiCatalogQuery } from './schemas.ts';

const tags = ['api catalog'];

/** The body of `POST /api_catalog/{id}/add`: optional (documented so). */
const AddBody = AddFromCatalogBody.meta({ id: 'AddFromCatalogBody' });

/**
 * The API catalog (APIs.guru, documents/api-catalog.ts): search it, and add one of its APIs to the workspace as an
 * OpenAPI connector (a large import whatever the body: it takes a slot of `deps.largeImports` first).
 */
export const apiCatalogOperations: Operation[] = [
  get('/api_catalog', 'searchApiCatalog', {
    tags,
    summary: 'Search the API catalog (APIs.guru) by words and category',
    description:
      '`q` matches titles, provider and service names, categories and descriptions (BM25; every word first, ' +
      'any word when no API has them all); `category` keeps one category. The first call after start (or ' +
      'after `API_CATALOG_CACHE_MINUTES`) reads the source; 503 when it cannot be read and no older index is at hand.',
    responses: {
      200: json('A page of matching APIs.', ApiCatalogPage),
      ...problems(403),
    },
    query: ApiCatalogQuery.meta({ id: 'ApiCatalogQuery' }),
    handler: handlers.searchApiCatalog,
  }),
  post('/api_catalog/{id}/add', 'addFromApiCatalog', {
    'x-audit': audited('connector.add_from_catalog'),
    tags,
    summary: 'Add an API of the catalog as an OpenAPI connector',
    description:
      'Fetches the API’s document (through a worker for a listing URL) and imports it as uploading it in the ' +
      'OpenAPI envelope with `slug` would: every operation a tool, the security schemes its `credentialFields`. ' +
      'Added already (same slug and version): 409, its detail naming the connector; pass another `slug` for a ' +
      'second copy. An unknown id: 404. A document the importer refuses: 422. The source unreachable: 503.',
    request: { body: { ...jsonBody(AddBody), required: false } },
    responses: {
      201: json('The connector.', Connector),
      ...problems(403, 404, 409, 413, 415),
    },
    params: pathParams('id'),
    body: AddBody,
    largeImport: 'always',
    handler: handlers.addFromApiCatalog,
  }),
];
