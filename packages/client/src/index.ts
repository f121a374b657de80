import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './schema.ts';

export type { components } from './schema.ts';
export { ApiError, readProblem, unwrap, type ProblemIssue } from './problem.ts';
export { locateIssues } from './source-map.ts';

/** A typed client of the management API (`/api/v1`), generated from docs/openapi.json. */
export type ManagementClient = Client<paths>;

/** How a client authenticates: an API key (`tp_…`), or the OAuth access token of a signed-in user. */
export type ManagementCredential = string | { accessToken: string };

/**
 * A client of the control plane at `baseUrl` (e.g. `http://127.0.0.1:8081`, or a path it is mounted under:
 * `https://host/toolplane`) with `credential`: an API key, sent as `x-api-key`, or `{ accessToken }`, sent as
 * `Authorization: Bearer` (where the deployment configures an OAuth issuer).
 * Every call is typed by the OpenAPI document: paths, parameters, bodies, responses and errors.
 */
export function createManagementClient(
  baseUrl: string,
  credential: ManagementCredential,
  fetchImpl?: typeof fetch,
): ManagementClient {
  return createClient<paths>({
    baseUrl: new URL('api/v1', baseUrl.replace(/\/*$/, '/')).href,
    headers:
      typeof credential === 'string'
        ? { 'x-api-key': credential }
        : { authorization: `Bearer ${credential.accessToken}` },
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
}
