import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './schema.ts';

export type { components } from './schema.ts';
export { readProblem } from './problem.ts';
export { locateIssues } from './source-map.ts';

/** A typed client of the management API (`/api/v1`), generated from docs/openapi.json. */
export type ManagementClient = Client<paths>;

/**
 * A client of the control plane at `baseUrl` (e.g. `http://127.0.0.1:8081`, or a path it is mounted under:
 * `https://host/toolplane`) with `apiKey`.
 * Every call is typed by the OpenAPI document: paths, parameters, bodies, responses and errors.
 */
export function createManagementClient(baseUrl: string, apiKey: string, fetchImpl?: typeof fetch): ManagementClient {
  return createClient<paths>({
    baseUrl: new URL('api/v1', baseUrl.replace(/\/*$/, '/')).href,
    headers: { 'x-api-key': apiKey },
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
}
