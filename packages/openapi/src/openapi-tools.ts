import type { HttpOperationPlan, HttpParamPlan, JsonSchema, ToolDefinition } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import { type ConnectorInstanceBinding, annotationsFor, type HttpCatalogTool } from './http-tools.ts';
import { deref, isObject, type Json, pointer } from './json-pointer.ts';
import { type DocumentOperation, listOperations, operationParameters } from './operations.ts';
import { schemaBuilder, type SchemaBuilder } from './schema-defs.ts';
import { operationSecurity, securityModel } from './security.ts';

type Issue = { path: string; message: string };
type Location = 'path' | 'query' | 'header' | 'cookie';
type Style = NonNullable<HttpParamPlan['style']>;

export interface OpenApiToolOptions {
  /**
   * seed-001 `mcp_config.route_mappings` shape, plus an optional `annotations` override. `operation_id`
   * matches the operationId, or the generated tool name when the operation has none. Empty/undefined:
   * every operation is a tool with its generated name and its description (else summary).
   */
  mappings?: {
    operation_id: string;
    mcp_tool_name: string;
    mcp_tool_description: string;
    parameter_mappings?: Record<string, string>;
    annotations?: Record<string, boolean | string>;
  }[];
  /**
   * `baseUrl` replaces the server URL (a relative server URL, e.g. `/api/v3`, is kept after it);
   * `secretNames` maps credential field key → secret name.
   */
  binding: ConnectorInstanceBinding;
}

type Mapping = NonNullable<OpenApiToolOptions['mappings']>[number];

interface ParamInfo {
  name: string;
  in: Location;
  schema: unknown;
  required: boolean;
  description?: string;
  deprecated?: boolean;
  style?: Style;
  explode?: boolean;
}

interface BodyInfo {
  encoding: 'json' | 'form' | 'multipart';
  schema: unknown;
  required: boolean;
  /** Object bodies whose properties can become arguments. */
  flat?: { props: [string, unknown][]; required: Set<string> };
}

export interface OperationAnalysis {
  params: ParamInfo[];
  body?: BodyInfo;
  output?: { schema: unknown; object: boolean };
  warnings: Issue[];
}

const styleByLocation: Record<Location, Style[]> = {
  path: ['simple', 'label', 'matrix'],
  query: ['form', 'spaceDelimited', 'pipeDelimited', 'deepObject'],
  header: ['simple'],
  cookie: ['form'],
};
const ignoredHeaders = new Set(['accept', 'content-type', 'authorization']);

const isJsonMedia = (t: string): boolean =>
  /^application\/([\w.+-]+\+)?json\b/i.test(t) || /^\*\/\*\s*(;|$)/.test(t) || /^application\/\*\s*(;|$)/.test(t);

/** Whether a schema (after refs) accepts only structured values (arrays or objects), for which OpenAPI styles matter. */
function isStructured(doc: Json, schema: unknown): boolean {
  const s = deref(doc, schema);
  if (!isObject(s)) return false;
  const t = s.type;
  const types = Array.isArray(t) ? t : typeof t === 'string' ? [t] : [];
  if (types.length > 0) return types.some((x) => x === 'array' || x === 'object');
  return 'items' in s || 'properties' in s || 'additionalProperties' in s;
}

/** The properties of an object schema (following refs and merging `allOf`), or undefined when it is not a plain object. */
function objectProperties(
  doc: Json,
  schema: unknown,
  depth = 0,
): { props: Map<string, unknown>; required: Set<string> } | undefined {
  const s = deref(doc, schema);
  if (!isObject(s) || depth > 8) return undefined;
  if ('oneOf' in s || 'anyOf' in s || 'not' in s || 'if' in s || 'patternProperties' in s) return undefined;
  if ('additionalProperties' in s && s.additionalProperties !== false) return undefined;
  const t = s.type;
  if (t !== undefined && t !== 'object' && !(Array.isArray(t) && t.length === 1 && t[0] === 'object')) return undefined;
  const props = new Map<string, unknown>();
  const required = new Set<string>();
  if (Array.isArray(s.allOf)) {
    for (const part of s.allOf) {
      const inner = objectProperties(doc, part, depth + 1);
      if (!inner) return undefined;
      for (const [k, v] of inner.props) props.set(k, v);
      for (const r of inner.required) required.add(r);
    }
  }
  if ('properties' in s) {
    if (!isObject(s.properties)) return undefined;
    for (const [k, v] of Object.entries(s.properties)) props.set(k, v);
  }
  if (Array.isArray(s.required)) for (const r of s.required) if (typeof r === 'string') required.add(r);
  if (t === undefined && props.size === 0 && !Array.isArray(s.allOf)) return undefined;
  return { props, required };
}

function isObjectRoot(doc: Json, schema: unknown, depth = 0): boolean {
  const s = deref(doc, schema);
  if (!isObject(s) || depth > 8) return false;
  const t = s.type;
  if (t === 'object' || (Array.isArray(t) && t.length === 1 && t[0] === 'object')) return true;
  if (t !== undefined) return false;
  if ('properties' in s || 'additionalProperties' in s) return true;
  return (
    Array.isArray(s.allOf) &&
    s.allOf.length > 0 &&
    s.allOf.some((p) => isObjectRoot(doc, p, depth + 1)) &&
    !('oneOf' in s) &&
    !('anyOf' in s)
  );
}

/**
 * What an operation offers as a tool, before names and schemas are built: its parameters (with their
 * serialization), the request body chosen (JSON, else form-urlencoded, else multipart) and whether its
 * properties can be arguments, the JSON 2xx response schema, and warnings for what cannot be used.
 */
export function analyseOperation(
  doc: Json,
  entry: DocumentOperation,
  opts: { descriptor: boolean },
): OperationAnalysis {
  const warnings: Issue[] = [];
  const at = (...segs: (string | number)[]): string => pointer([...entry.location, ...segs]);
  const { op } = entry;
  const params: ParamInfo[] = [];
  const placeholders = [...entry.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  for (const p of operationParameters(doc, entry.pathItem, op)) {
    const name = p.name as string;
    const loc = p.in as string;
    if (loc !== 'path' && loc !== 'query' && loc !== 'header' && loc !== 'cookie') {
      warnings.push({ path: at('parameters'), message: `parameter "${name}" in "${loc}" is not supported; ignored` });
      continue;
    }
    if (!opts.descriptor && loc === 'header' && ignoredHeaders.has(name.toLowerCase())) continue;
    if (!opts.descriptor && loc === 'path' && !placeholders.includes(name)) {
      warnings.push({
        path: at('parameters'),
        message: `path parameter "${name}" does not appear in the path ${entry.path}; ignored`,
      });
      continue;
    }
    let schema: unknown = p.schema;
    let fromContent = false;
    if (schema === undefined && isObject(p.content)) {
      const first = Object.values(p.content)[0];
      schema = isObject(first) ? first.schema : undefined;
      fromContent = true;
    }
    const info: ParamInfo = { name, in: loc, schema: schema ?? {}, required: loc === 'path' || p.required === true };
    if (typeof p.description === 'string' && p.description) info.description = p.description;
    if (p.deprecated === true) info.deprecated = true;
    if (!opts.descriptor && !fromContent) {
      const declared = typeof p.style === 'string' ? (p.style as Style) : undefined;
      if (declared !== undefined && !styleByLocation[loc].includes(declared)) {
        warnings.push({
          path: at('parameters'),
          message: `style "${declared}" is not valid for ${loc} parameter "${name}"; the default is used`,
        });
      }
      const style = declared !== undefined && styleByLocation[loc].includes(declared) ? declared : undefined;
      if (style !== undefined || isStructured(doc, info.schema)) {
        info.style = style ?? (loc === 'query' || loc === 'cookie' ? 'form' : 'simple');
        info.explode = typeof p.explode === 'boolean' ? p.explode : info.style === 'form';
      }
    }
    params.push(info);
  }
  if (!opts.descriptor) {
    for (const name of placeholders) {
      if (params.some((p) => p.in === 'path' && p.name === name)) continue;
      warnings.push({
        path: at('parameters'),
        message: `path parameter "${name}" is not declared; added as a required string`,
      });
      params.push({ name, in: 'path', schema: { type: 'string' }, required: true });
    }
  }

  const analysis: OperationAnalysis = { params, warnings };
  const rb = deref(doc, op.requestBody);
  if (isObject(rb) && isObject(rb.content)) {
    const types = Object.keys(rb.content);
    const pick =
      types.find(isJsonMedia) ??
      types.find((t) => /^application\/x-www-form-urlencoded\b/i.test(t)) ??
      types.find((t) => /^multipart\/form-data\b/i.test(t));
    if (pick === undefined) {
      if (types.length > 0)
        warnings.push({
          path: at('requestBody', 'content'),
          message: `request body media types ${JSON.stringify(types)} are not supported (JSON, form-urlencoded, multipart); the tool sends no body`,
        });
    } else {
      const media = rb.content[pick];
      const schema = isObject(media) && media.schema !== undefined ? media.schema : {};
      const encoding = isJsonMedia(pick) ? 'json' : /^multipart/i.test(pick) ? 'multipart' : 'form';
      const body: BodyInfo = { encoding, schema, required: rb.required === true };
      const flat = objectProperties(doc, schema);
      if (flat && flat.props.size > 0) {
        const props = [...flat.props].filter(([, v]) => !(isObject(v) && v.readOnly === true));
        body.flat = { props, required: flat.required };
      }
      analysis.body = body;
    }
  }

  if (isObject(op.responses)) {
    const codes = Object.keys(op.responses)
      .filter((c) => /^2(\d\d|XX)$/i.test(c))
      .sort(
        (a, b) =>
          (a.toUpperCase().endsWith('XX') ? 1 : 0) - (b.toUpperCase().endsWith('XX') ? 1 : 0) || a.localeCompare(b),
      );
    for (const code of codes) {
      const res = deref(doc, op.responses[code]);
      if (!isObject(res) || !isObject(res.content)) continue;
      const type = Object.keys(res.content).find(isJsonMedia);
      const media = type !== undefined ? res.content[type] : undefined;
      if (
        !isObject(media) ||
        media.schema === undefined ||
        (isObject(media.schema) && Object.keys(media.schema).length === 0)
      )
        continue;
      analysis.output = { schema: media.schema, object: isObjectRoot(doc, media.schema) };
      break;
    }
  }
  return analysis;
}

function serverUrl(doc: Json, entry: DocumentOperation): string {
  const list = [entry.op.servers, entry.pathItem.servers, doc.servers].find((s) => Array.isArray(s) && s.length > 0) as
    unknown[] | undefined;
  const server = list?.[0];
  if (!isObject(server) || typeof server.url !== 'string') return '';
  const vars = isObject(server.variables) ? server.variables : {};
  return server.url.replace(/\{([^}]+)\}/g, (whole, name: string) => {
    const v = vars[name];
    if (isObject(v) && (typeof v.default === 'string' || typeof v.default === 'number')) return String(v.default);
    if (isObject(v) && Array.isArray(v.enum) && v.enum.length > 0) return String(v.enum[0]);
    return whole;
  });
}

function operationUrl(doc: Json, entry: DocumentOperation, baseUrl: string | undefined): string {
  const server = serverUrl(doc, entry).replace(/\/+$/, '');
  const absolute = /^[a-z][a-z0-9+.-]*:\/\//i.test(server);
  if (!baseUrl) return server + entry.path;
  return baseUrl.replace(/\/+$/, '') + (absolute ? '' : server) + entry.path;
}

const argName = (text: string): string => text.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 64) || 'arg';

function withDescription(schema: unknown, description: string | undefined, deprecated: boolean | undefined): unknown {
  if (!isObject(schema)) return schema;
  if ((description === undefined || schema.description !== undefined) && !deprecated) return schema;
  return {
    ...schema,
    ...(description !== undefined && schema.description === undefined ? { description } : {}),
    ...(deprecated ? { deprecated: true } : {}),
  };
}

const annotationKeys: Record<string, 'boolean' | 'string'> = {
  title: 'string',
  readOnlyHint: 'boolean',
  destructiveHint: 'boolean',
  idempotentHint: 'boolean',
  openWorldHint: 'boolean',
};

interface Builders {
  input: SchemaBuilder;
  output: SchemaBuilder;
}

function buildTool(
  doc: Json,
  entry: DocumentOperation,
  mapping: Mapping | undefined,
  options: OpenApiToolOptions,
  b: Builders,
  model: ReturnType<typeof securityModel>,
  descriptor: boolean,
): HttpCatalogTool {
  const analysis = analyseOperation(doc, entry, { descriptor });
  const renames = mapping?.parameter_mappings ?? {};
  const used = new Set<string>();
  const claim = (wanted: string, fallback: string): string => {
    let arg = descriptor ? wanted : argName(wanted);
    if (used.has(arg)) arg = descriptor ? fallback : argName(fallback);
    for (let i = 2; used.has(arg); i++) arg = `${descriptor ? fallback : argName(fallback)}_${i}`;
    used.add(arg);
    return arg;
  };
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  const refs = new Set<string>();
  const params: HttpParamPlan[] = [];
  const defaultOf = (schema: unknown): unknown => (descriptor && isObject(schema) ? schema.default : undefined);

  for (const p of analysis.params) {
    const arg = claim(renames[p.name] ?? p.name, `${p.in}_${p.name}`);
    properties[arg] = withDescription(b.input.rewrite(p.schema, refs), p.description, p.deprecated);
    const dflt = defaultOf(p.schema);
    if (p.required && dflt === undefined) required.push(arg);
    params.push({
      arg,
      name: p.name,
      in: p.in,
      ...(dflt !== undefined ? { default: dflt } : {}),
      ...(p.style !== undefined ? { style: p.style, explode: p.explode } : {}),
    });
  }
  const body = analysis.body;
  if (body) {
    const flat = body.flat;
    const wanted = flat?.props.map(([name]) => (descriptor ? (renames[name] ?? name) : argName(renames[name] ?? name)));
    if (flat && wanted && !wanted.some((a) => used.has(a)) && new Set(wanted).size === wanted.length) {
      flat.props.forEach(([name, schema], i) => {
        const arg = wanted[i]!;
        used.add(arg);
        properties[arg] = b.input.rewrite(schema, refs);
        const dflt = defaultOf(deref(doc, schema));
        if (body.required && flat.required.has(name) && dflt === undefined) required.push(arg);
        params.push({ arg, name, in: 'body', ...(dflt !== undefined ? { default: dflt } : {}) });
      });
    } else {
      const arg = claim(renames.body ?? 'body', 'request_body');
      properties[arg] = b.input.rewrite(body.schema, refs);
      if (body.required) required.push(arg);
      params.push({ arg, name: 'body', in: 'body', wholeBody: true });
    }
  }
  const inputSchema: JsonSchema = { type: 'object', properties, additionalProperties: false };
  if (required.length > 0) inputSchema.required = required;
  if (refs.size > 0) inputSchema.$defs = b.input.defs(refs);

  let outputSchema: JsonSchema | undefined;
  let output: HttpOperationPlan['output'];
  if (analysis.output) {
    const outRefs = new Set<string>();
    if (analysis.output.object) {
      const root = b.output.rewrite(deref(doc, analysis.output.schema), outRefs) as Json;
      outputSchema = { ...root, type: 'object' };
      output = {};
    } else {
      outputSchema = { type: 'object', properties: { result: b.output.rewrite(analysis.output.schema, outRefs) } };
      output = { wrap: 'result' };
    }
    if (outRefs.size > 0) outputSchema.$defs = b.output.defs(outRefs);
  }

  const {
    headers: authHeaders,
    query: authQuery,
    cookies: authCookies,
    auth,
    fields,
  } = credentialsOf(doc, entry.op, model, descriptor);
  const secrets: Record<string, string> = {};
  for (const field of fields) {
    const name = options.binding.secretNames[field];
    if (name) secrets[field] = name;
  }

  const plan: HttpOperationPlan = {
    kind: 'http',
    method: entry.method as HttpOperationPlan['method'],
    url: operationUrl(doc, entry, options.binding.baseUrl),
    params,
    authHeaders,
    secrets,
    ...(auth ? { auth } : {}),
    ...(authQuery ? { authQuery } : {}),
    ...(authCookies ? { authCookies } : {}),
    ...(body && body.encoding !== 'json' ? { bodyEncoding: body.encoding } : {}),
    ...(output ? { output } : {}),
    ...idempotencyOf(doc, entry.op),
  };
  const summary = entry.summary;
  const description =
    mapping?.mcp_tool_description ??
    (typeof entry.op.description === 'string' && entry.op.description.trim() ? entry.op.description : undefined) ??
    summary ??
    `${entry.method} ${entry.path}`;
  const annotations: ToolDefinition['annotations'] = { title: summary, ...annotationsFor(entry.method) };
  if (plan.idempotent !== undefined) annotations.idempotentHint = plan.idempotent;
  for (const [k, v] of Object.entries(mapping?.annotations ?? {})) (annotations as Record<string, unknown>)[k] = v;
  const tool: ToolDefinition = {
    name: mapping?.mcp_tool_name ?? entry.toolName,
    title: summary,
    description,
    inputSchema,
    ...(outputSchema ? { outputSchema } : {}),
    annotations,
  };
  return { tool, plan };
}

/**
 * Where an operation's credentials go: `{field}` templates by header, query parameter and cookie, the
 * computed `auth` (its `Authorization` header is the reserved template `{__authorization}`), and the
 * credential fields the templates and `auth` read.
 */
export interface OperationCredentials {
  headers: Record<string, string>;
  query?: Record<string, string>;
  cookies?: Record<string, string>;
  auth?: HttpOperationPlan['auth'];
  fields: string[];
}

/** Credentials: descriptor documents keep their header templates; otherwise the security requirement decides. */
function credentialsOf(
  doc: Json,
  op: Json,
  model: ReturnType<typeof securityModel>,
  descriptor: boolean,
): OperationCredentials {
  let headers: Record<string, string> = {};
  let query: Record<string, string> | undefined;
  let cookies: Record<string, string> | undefined;
  let auth: HttpOperationPlan['auth'];
  const templates = op['x-toolplane-auth-headers'];
  if (descriptor && isObject(templates) && Object.keys(templates).length > 0) {
    headers = { ...(templates as Record<string, string>) };
  } else {
    const sec = operationSecurity(doc, op, model);
    for (const { creds, scopes } of sec.schemes) {
      if (descriptor && !(creds.auth && creds.explicit)) continue; // the descriptor's built-in methods only
      if (creds.headers) Object.assign(headers, creds.headers);
      if (creds.query) query = { ...query, ...creds.query };
      if (creds.cookies) cookies = { ...cookies, ...creds.cookies };
      if (creds.auth && !auth) {
        auth =
          creds.auth.kind === 'oauth2_client_credentials' ||
          (creds.auth.kind === 'oauth2_authorization_code' && creds.auth.scopes.length === 0)
            ? { ...creds.auth, scopes }
            : creds.auth; // a person's account with the connector's fixed scopes (`user_oauth.scopes`) keeps them
        headers.Authorization = '{__authorization}';
      }
    }
  }
  const referenced = new Set<string>();
  for (const template of [...Object.values(headers), ...Object.values(query ?? {}), ...Object.values(cookies ?? {})]) {
    for (const m of template.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g))
      if (m[1] !== '__authorization') referenced.add(m[1]!);
  }
  if (auth)
    for (const [k, v] of Object.entries(auth))
      if (['username', 'password', 'token', 'clientId', 'clientSecret'].includes(k) && typeof v === 'string')
        referenced.add(v);
  return {
    headers,
    ...(query ? { query } : {}),
    ...(cookies ? { cookies } : {}),
    ...(auth ? { auth } : {}),
    fields: [...referenced],
  };
}

/**
 * The credentials of every operation of an OpenAPI document (as `importOpenApi` stores it), by
 * `METHOD path` (`GET /pets/{id}`): what a workflow step calling one of a connector's operations sends
 * with the connector instance's credential values.
 */
export function operationCredentials(
  document: Record<string, unknown>,
  /** The document is a connector descriptor's (`descriptorToOpenApi`): its operations' header templates are kept. */
  descriptor = false,
): Map<string, OperationCredentials> {
  const model = securityModel(document);
  const out = new Map<string, OperationCredentials>();
  for (const o of listOperations(document))
    out.set(`${o.method.toUpperCase()} ${o.path}`, credentialsOf(document, o.op, model, descriptor));
  return out;
}

const headerName = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

/**
 * Re-delivery rules of an operation (docs/api.md, "Idempotency"): `x-idempotent: true|false` overrides
 * the method's default; `x-idempotency-key: <header name>` (on the operation, or on the document for
 * all its operations; `false` on an operation opts out) says the API deduplicates requests by that header.
 * Values of another type are ignored.
 */
function idempotencyOf(doc: Json, op: Json): Pick<HttpOperationPlan, 'idempotent' | 'idempotencyKeyHeader'> {
  const idempotent = op['x-idempotent'];
  const key = op['x-idempotency-key'] !== undefined ? op['x-idempotency-key'] : doc['x-idempotency-key'];
  return {
    ...(typeof idempotent === 'boolean' ? { idempotent } : {}),
    ...(typeof key === 'string' && headerName.test(key) ? { idempotencyKeyHeader: key } : {}),
  };
}

/** The shared core of compileOpenApiTools and compileDescriptorTools (`descriptor`: the document came from descriptorToOpenApi). */
export function compileTools(
  document: Record<string, unknown>,
  options: OpenApiToolOptions,
  descriptor: boolean,
): HttpCatalogTool[] {
  const ops = listOperations(document);
  const issues: Issue[] = [];
  const selected: [DocumentOperation, Mapping | undefined][] = [];
  const mappings = options.mappings ?? [];
  if (mappings.length === 0) {
    for (const o of ops) selected.push([o, undefined]);
  } else {
    const byId = new Map<string, DocumentOperation>();
    for (const o of ops) if (!byId.has(o.operationId)) byId.set(o.operationId, o);
    const byName = new Map(ops.map((o) => [o.toolName, o]));
    const names = new Map<string, number>();
    mappings.forEach((m, i) => {
      const o = byId.get(m.operation_id) ?? byName.get(m.operation_id);
      if (!o)
        issues.push({
          path: `/mappings/${i}/operation_id`,
          message: `no operation has operationId (or generated tool name) "${m.operation_id}"`,
        });
      const prev = names.get(m.mcp_tool_name);
      if (prev !== undefined)
        issues.push({
          path: `/mappings/${i}/mcp_tool_name`,
          message: `tool name "${m.mcp_tool_name}" is already used by mapping ${prev}`,
        });
      else names.set(m.mcp_tool_name, i);
      for (const [k, v] of Object.entries(m.annotations ?? {})) {
        if (annotationKeys[k] === undefined)
          issues.push({
            path: `/mappings/${i}/annotations/${k}`,
            message: `unknown annotation (one of ${Object.keys(annotationKeys).join(', ')})`,
          });
        else if (typeof v !== annotationKeys[k])
          issues.push({ path: `/mappings/${i}/annotations/${k}`, message: `must be a ${annotationKeys[k]}` });
      }
      if (o) selected.push([o, m]);
    });
  }
  if (issues.length > 0) throw new ValidationError('the tool mappings do not match the document', issues);
  const builders: Builders = { input: schemaBuilder(document, 'input'), output: schemaBuilder(document, 'output') };
  const model = securityModel(document);
  return selected.map(([o, m]) => buildTool(document, o, m, options, builders, model, descriptor));
}

/**
 * The tools of an imported OpenAPI document (see importOpenApi): one per mapping, or one per operation
 * when there are no mappings. Throws ValidationError when a mapping names no operation, two mappings give
 * the same tool name, or an annotation override is not one of the MCP annotations.
 */
export function compileOpenApiTools(document: Record<string, unknown>, options: OpenApiToolOptions): HttpCatalogTool[] {
  return compileTools(document, options, false);
}
