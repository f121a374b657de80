import { costProblem, operationCost, operationLabels } from '@toolplane/openapi';
import { isObject } from './compile-common.ts';
import type { CredentialsIR } from './ir.ts';

/**
 * What the Arazzo compiler needs from an OpenAPI 3.x source description: its operations (by id and
 * by JSON pointer), their parameters, request media types and server URL. Local `$ref`s are
 * followed; the document is never fetched here (the deployment carries it: inline, fetched by the
 * worker at deploy time, or a connector's).
 */

export interface SourceOperation {
  method: string;
  path: string;
  operationId?: string;
  /** JSON pointer of the operation object, e.g. `/paths/~1pet~1{petId}/get`. */
  pointer: string;
  /** `in:name` keys of the declared parameters (path-level and operation-level). */
  parameters: Set<string>;
  requestContentTypes: string[];
  serverUrl: string;
  /** A source bound to a connector instance: where the operation's credentials go. */
  credentials?: CredentialsIR;
  /** A source bound to a connector instance: why a step may not call this operation (its server has no fixed origin). */
  unbound?: string;
  /** What one call costs against cost quotas (`x-toolplane-cost`), when the operation declares a valid cost. */
  cost?: number;
  /** Why the operation's declared cost is ignored (a step calling it costs 1). */
  costIgnored?: string;
  /** Its declared data-flow labels (`x-toolplane-labels`, ADR 0078), when it declares any. */
  labels?: string[];
}

export interface OpenApiSource {
  name: string;
  /** The source description's `url` as written in the Arazzo document. */
  url: string;
  /** Where the document came from (the reference's location). */
  location: string;
  document: Record<string, unknown>;
  operations: SourceOperation[];
}

const httpMethods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

export function decodePointer(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return pointer === '' ? [] : [''];
  return pointer
    .replace(/^\//, '')
    .split('/')
    .map((t) => decodeURIComponent(t).replace(/~1/g, '/').replace(/~0/g, '~'));
}

function encodePointer(tokens: readonly string[]): string {
  return tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

export function getPointer(doc: unknown, tokens: readonly string[]): unknown {
  let cur = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isObject(cur)) cur = Object.hasOwn(cur, t) ? cur[t] : undefined;
    else return undefined;
  }
  return cur;
}

/** Follows local `$ref`s (`#/components/...`) up to a small depth. */
function deref(doc: Record<string, unknown>, value: unknown, depth = 0): unknown {
  if (depth > 20 || !isObject(value) || typeof value.$ref !== 'string') return value;
  const ref = value.$ref;
  if (!ref.startsWith('#')) return value;
  return deref(doc, getPointer(doc, decodePointer(ref.slice(1))), depth + 1);
}

function serverUrlOf(doc: Record<string, unknown>, servers: unknown): string | undefined {
  const list = Array.isArray(servers) ? servers : Array.isArray(doc.servers) ? doc.servers : undefined;
  const first = list?.[0];
  if (!isObject(first) || typeof first.url !== 'string') return undefined;
  let url = first.url;
  if (isObject(first.variables)) {
    for (const [name, v] of Object.entries(first.variables)) {
      if (isObject(v) && v.default !== undefined) url = url.split(`{${name}}`).join(String(v.default));
    }
  }
  return url;
}

/** Resolves a possibly relative server URL against the document's location (OpenAPI 3 rule). */
function absoluteServerUrl(server: string, bases: readonly string[]): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(server)) return server;
  for (const base of bases) {
    if (/^https?:\/\//i.test(base)) {
      try {
        return new URL(server, base).toString();
      } catch {
        // try the next base
      }
    }
  }
  return server;
}

export function indexOpenApi(
  name: string,
  url: string,
  location: string,
  document: Record<string, unknown>,
): OpenApiSource {
  const operations: SourceOperation[] = [];
  const paths = isObject(document.paths) ? document.paths : {};
  for (const [path, rawItem] of Object.entries(paths)) {
    const item = deref(document, rawItem);
    if (!isObject(item)) continue;
    for (const method of httpMethods) {
      const op = item[method];
      if (!isObject(op)) continue;
      const parameters = new Set<string>();
      for (const list of [item.parameters, op.parameters]) {
        if (!Array.isArray(list)) continue;
        for (const raw of list) {
          const p = deref(document, raw);
          if (isObject(p) && typeof p.name === 'string' && typeof p.in === 'string')
            parameters.add(`${p.in}:${p.name}`);
        }
      }
      const body = deref(document, op.requestBody);
      const requestContentTypes = isObject(body) && isObject(body.content) ? Object.keys(body.content) : [];
      const server = serverUrlOf(document, op.servers ?? item.servers) ?? '/';
      const entry: SourceOperation = {
        method: method.toUpperCase(),
        path,
        pointer: encodePointer(['paths', path, method]),
        parameters,
        requestContentTypes,
        serverUrl: absoluteServerUrl(server, [location, url]),
      };
      if (typeof op.operationId === 'string') entry.operationId = op.operationId;
      const cost = operationCost(op);
      if (cost !== undefined) entry.cost = cost;
      const costIgnored = costProblem(op);
      if (costIgnored) entry.costIgnored = costIgnored;
      const labels = operationLabels(op);
      if (labels.length > 0) entry.labels = labels;
      operations.push(entry);
    }
  }
  return { name, url, location, document, operations };
}

/** Joins a server URL and an OpenAPI path without doubling or dropping the slash. */
export function joinUrl(server: string, path: string): string {
  return `${server.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}
