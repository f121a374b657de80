import type { HttpOperationPlan, HttpParamPlan, JsonSchema, ToolDefinition } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import { type ConnectorInstanceBinding, annotationsFor, type HttpCatalogTool } from './http-tools.ts';
import { deref, isObject, type Json, pointer } from './json-pointer.ts';
import { annotationLabels, labelled, mergeLabels, operationLabels } from './labels.ts';
import { type DocumentOperation, listOperations, operationParameters } from './operations.ts';
import { schemaBuilder, type SchemaBuilder } from './schema-defs.ts';
import { operationSecurity, type SecurityModel, securityModel } from './security.ts';

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
    /** The tool's declared data-flow labels (ADR 0078), beside the operation's `x-toolplane-labels`. */
    labels?: readonly string[];
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
  const analysis: OperationAnalysis = { params: operationParams(doc, entry, opts.descriptor, warnings), warnings };
  const body = requestBodyOf(doc, entry, warnings);
  if (body) analysis.body = body;
  const output = responseOf(doc, entry.op);
  if (output) analysis.output = output;
  return analysis;
}

/**
 * The parameters an operation's tool takes: those in a supported location, without the headers the plan sets itself
 * (Accept, Content-Type, Authorization) and path parameters the path does not hold; a placeholder of the path that no
 * parameter declares is added as a required string. A descriptor document's parameters are taken as they are.
 */
function operationParams(doc: Json, entry: DocumentOperation, descriptor: boolean, warnings: Issue[]): ParamInfo[] {
  const warn = (message: string): void => {
    warnings.push({ path: pointer([...entry.location, 'parameters']), message });
  };
  const params: ParamInfo[] = [];
  const placeholders = [...entry.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  for (const p of operationParameters(doc, entry.pathItem, entry.op)) {
    const name = p.name as string;
    const loc = p.in as string;
    if (loc !== 'path' && loc !== 'query' && loc !== 'header' && loc !== 'cookie') {
      warn(`parameter "${name}" in "${loc}" is not supported; ignored`);
      continue;
    }
    if (!descriptor && loc === 'header' && ignoredHeaders.has(name.toLowerCase())) continue;
    if (!descriptor && loc === 'path' && !placeholders.includes(name)) {
      warn(`path parameter "${name}" does not appear in the path ${entry.path}; ignored`);
      continue;
    }
    const { schema, fromContent } = parameterSchema(p);
    const info: ParamInfo = { name, in: loc, schema: schema ?? {}, required: loc === 'path' || p.required === true };
    if (typeof p.description === 'string' && p.description) info.description = p.description;
    if (p.deprecated === true) info.deprecated = true;
    if (!descriptor && !fromContent) setSerialisation(doc, p, info, warn);
    params.push(info);
  }
  if (!descriptor) {
    for (const name of placeholders) {
      if (params.some((p) => p.in === 'path' && p.name === name)) continue;
      warn(`path parameter "${name}" is not declared; added as a required string`);
      params.push({ name, in: 'path', schema: { type: 'string' }, required: true });
    }
  }
  return params;
}

/** A parameter's schema: its `schema`, else the schema of the first media type of its `content`. */
function parameterSchema(p: Json): { schema: unknown; fromContent: boolean } {
  if (p.schema === undefined && isObject(p.content)) {
    const first = Object.values(p.content)[0];
    return { schema: isObject(first) ? first.schema : undefined, fromContent: true };
  }
  return { schema: p.schema, fromContent: false };
}

/**
 * How a parameter is serialised when it matters: its declared `style` when valid for its location (an invalid one is
 * a warning), else the location's default for a structured schema; `explode` as declared, else the style's default.
 */
function setSerialisation(doc: Json, p: Json, info: ParamInfo, warn: (message: string) => void): void {
  const loc = info.in;
  const declared = typeof p.style === 'string' ? (p.style as Style) : undefined;
  if (declared !== undefined && !styleByLocation[loc].includes(declared))
    warn(`style "${declared}" is not valid for ${loc} parameter "${info.name}"; the default is used`);
  const style = declared !== undefined && styleByLocation[loc].includes(declared) ? declared : undefined;
  if (style !== undefined || isStructured(doc, info.schema)) {
    info.style = style ?? (loc === 'query' || loc === 'cookie' ? 'form' : 'simple');
    info.explode = typeof p.explode === 'boolean' ? p.explode : info.style === 'form';
  }
}

/**
 * The request body the tool sends: JSON, else form-urlencoded, else multipart (other media types are a warning and
 * no body), with the properties of an object body that can be arguments (read-only ones are left out).
 */
function requestBodyOf(doc: Json, entry: DocumentOperation, warnings: Issue[]): BodyInfo | undefined {
  const rb = deref(doc, entry.op.requestBody);
  if (!isObject(rb) || !isObject(rb.content)) return undefined;
  const types = Object.keys(rb.content);
  const pick =
    types.find(isJsonMedia) ??
    types.find((t) => /^application\/x-www-form-urlencoded\b/i.test(t)) ??
    types.find((t) => /^multipart\/form-data\b/i.test(t));
  if (pick === undefined) {
    if (types.length > 0)
      warnings.push({
        path: pointer([...entry.location, 'requestBody', 'content']),
        message: `request body media types ${JSON.stringify(types)} are not supported (JSON, form-urlencoded, multipart); the tool sends no body`,
      });
    return undefined;
  }
  const media = rb.content[pick];
  const schema = isObject(media) && media.schema !== undefined ? media.schema : {};
  const encoding = isJsonMedia(pick) ? 'json' : /^multipart/i.test(pick) ? 'multipart' : 'form';
  const body: BodyInfo = { encoding, schema, required: rb.required === true };
  const flat = objectProperties(doc, schema);
  if (flat && flat.props.size > 0) {
    const props = [...flat.props].filter(([, v]) => !(isObject(v) && v.readOnly === true));
    body.flat = { props, required: flat.required };
  }
  return body;
}

/** The first 2xx response (`2XX` ranges after exact codes) with a non-empty JSON schema, and whether it is an object. */
function responseOf(doc: Json, op: Json): OperationAnalysis['output'] {
  if (!isObject(op.responses)) return undefined;
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
    return { schema: media.schema, object: isObjectRoot(doc, media.schema) };
  }
  return undefined;
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

/** What every tool of one compilation shares: the document, the options, the schema builders and the security model. */
interface Compilation {
  doc: Json;
  options: OpenApiToolOptions;
  builders: Builders;
  model: SecurityModel;
  /** The document came from descriptorToOpenApi: names, defaults and credential templates are kept as written. */
  descriptor: boolean;
}

function buildTool(c: Compilation, entry: DocumentOperation, mapping: Mapping | undefined): HttpCatalogTool {
  const analysis = analyseOperation(c.doc, entry, { descriptor: c.descriptor });
  const input = toolInput(c, analysis, mapping?.parameter_mappings ?? {});
  const output = toolOutput(c, analysis.output);
  const {
    headers: authHeaders,
    query: authQuery,
    cookies: authCookies,
    auth,
    fields,
  } = credentialsOf(c.doc, entry.op, c.model, c.descriptor);
  const body = analysis.body;
  const plan: HttpOperationPlan = {
    kind: 'http',
    method: entry.method as HttpOperationPlan['method'],
    url: operationUrl(c.doc, entry, c.options.binding.baseUrl),
    params: input.params,
    authHeaders,
    secrets: secretsOf(fields, c.options.binding),
    ...(auth ? { auth } : {}),
    ...(authQuery ? { authQuery } : {}),
    ...(authCookies ? { authCookies } : {}),
    ...(body && body.encoding !== 'json' ? { bodyEncoding: body.encoding } : {}),
    ...(output.plan ? { output: output.plan } : {}),
    ...idempotencyOf(c.doc, entry.op),
  };
  const cost = operationCost(entry.op);
  const tool = toolDefinition(entry, mapping, plan, { input: input.schema, output: output.schema });
  const labels = toolLabels(entry, mapping, tool);
  return {
    tool,
    plan,
    ...(cost !== undefined ? { cost } : {}),
    ...(labels ? { labels } : {}),
  };
}

/**
 * The labels the tool's definition gives (ADR 0078): the route mapping's and the operation's `x-toolplane-labels`
 * (declared), else hints from the annotations a mapping sets itself (`openWorldHint`; those inferred from the method
 * say nothing of the data, and are no hint).
 */
function toolLabels(entry: DocumentOperation, mapping: Mapping | undefined, tool: ToolDefinition) {
  const declared = mergeLabels(labelled(mapping?.labels, 'declared'), labelled(operationLabels(entry.op), 'declared'));
  if (declared) return declared;
  return mapping?.annotations?.openWorldHint !== undefined
    ? mergeLabels(annotationLabels(tool.annotations))
    : undefined;
}

/** The extension an operation declares what one call costs with, against cost quotas (ADR 0048; absent: 1). */
export const costExtension = 'x-toolplane-cost';

/** A declared cost: a whole number of units from 0 to 10⁹ (quota counters are integers). */
export function isCost(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 1_000_000_000;
}

/** An operation's declared cost, when it declares a valid one (else the import warns, `costProblem`). */
export function operationCost(op: Json): number | undefined {
  const v = op[costExtension];
  return isCost(v) ? v : undefined;
}

/** Why an operation's declared cost is ignored; undefined when it has none or a valid one. */
export function costProblem(op: Json): string | undefined {
  if (op[costExtension] === undefined || operationCost(op) !== undefined) return undefined;
  return `${costExtension} must be a whole number of at least 0: ignored, a call costs 1`;
}

/** A tool's arguments as they are built: the names taken, their schemas, which are required, and where each goes. */
interface Arguments {
  used: Set<string>;
  properties: Record<string, unknown>;
  required: string[];
  /** The `$defs` the argument schemas refer to. */
  refs: Set<string>;
  params: HttpParamPlan[];
}

/** The input schema (parameters, then the body's properties or the whole body) and where each argument goes. */
function toolInput(
  c: Compilation,
  analysis: OperationAnalysis,
  renames: Record<string, string>,
): { schema: JsonSchema; params: HttpParamPlan[] } {
  const args: Arguments = { used: new Set(), properties: {}, required: [], refs: new Set(), params: [] };
  addParameterArguments(c, args, analysis.params, renames);
  if (analysis.body) addBodyArguments(c, args, analysis.body, renames);
  const schema: JsonSchema = { type: 'object', properties: args.properties, additionalProperties: false };
  if (args.required.length > 0) schema.required = args.required;
  if (args.refs.size > 0) schema.$defs = c.builders.input.defs(args.refs);
  return { schema, params: args.params };
}

/** Takes an argument name: the wanted one, else the fallback, else the fallback numbered (names sanitised unless from a descriptor). */
function claimArgument(c: Compilation, args: Arguments, wanted: string, fallback: string): string {
  const name = (text: string): string => (c.descriptor ? text : argName(text));
  let arg = name(wanted);
  if (args.used.has(arg)) arg = name(fallback);
  for (let i = 2; args.used.has(arg); i++) arg = `${name(fallback)}_${i}`;
  args.used.add(arg);
  return arg;
}

/** A descriptor's parameter default: the worker fills it in, so the argument is optional. Other documents: none. */
function descriptorDefault(c: Compilation, schema: unknown): unknown {
  return c.descriptor && isObject(schema) ? schema.default : undefined;
}

/** One argument per parameter (renamed by the mapping; `<in>_<name>` when the name is taken). */
function addParameterArguments(
  c: Compilation,
  args: Arguments,
  params: ParamInfo[],
  renames: Record<string, string>,
): void {
  for (const p of params) {
    const arg = claimArgument(c, args, renames[p.name] ?? p.name, `${p.in}_${p.name}`);
    args.properties[arg] = withDescription(c.builders.input.rewrite(p.schema, args.refs), p.description, p.deprecated);
    const dflt = descriptorDefault(c, p.schema);
    if (p.required && dflt === undefined) args.required.push(arg);
    args.params.push({
      arg,
      name: p.name,
      in: p.in,
      ...(dflt !== undefined ? { default: dflt } : {}),
      ...(p.style !== undefined ? { style: p.style, explode: p.explode } : {}),
    });
  }
}

/**
 * The body's properties as arguments when they are flat and none of their names is taken; otherwise the whole body
 * as one argument (`body`, else `request_body`).
 */
function addBodyArguments(c: Compilation, args: Arguments, body: BodyInfo, renames: Record<string, string>): void {
  const flat = body.flat;
  const wanted = flat?.props.map(([name]) => (c.descriptor ? (renames[name] ?? name) : argName(renames[name] ?? name)));
  if (flat && wanted && !wanted.some((a) => args.used.has(a)) && new Set(wanted).size === wanted.length) {
    flat.props.forEach(([name, schema], i) => {
      const arg = wanted[i]!;
      args.used.add(arg);
      args.properties[arg] = c.builders.input.rewrite(schema, args.refs);
      const dflt = descriptorDefault(c, deref(c.doc, schema));
      if (body.required && flat.required.has(name) && dflt === undefined) args.required.push(arg);
      args.params.push({ arg, name, in: 'body', ...(dflt !== undefined ? { default: dflt } : {}) });
    });
  } else {
    const arg = claimArgument(c, args, renames.body ?? 'body', 'request_body');
    args.properties[arg] = c.builders.input.rewrite(body.schema, args.refs);
    if (body.required) args.required.push(arg);
    args.params.push({ arg, name: 'body', in: 'body', wholeBody: true });
  }
}

/** The output schema: an object response as it is, anything else wrapped in `result` (and the plan's matching `output`). */
function toolOutput(
  c: Compilation,
  response: OperationAnalysis['output'],
): { schema?: JsonSchema; plan?: HttpOperationPlan['output'] } {
  if (!response) return {};
  const outRefs = new Set<string>();
  let schema: JsonSchema;
  let plan: HttpOperationPlan['output'];
  if (response.object) {
    const root = c.builders.output.rewrite(deref(c.doc, response.schema), outRefs) as Json;
    schema = { ...root, type: 'object' };
    plan = {};
  } else {
    schema = { type: 'object', properties: { result: c.builders.output.rewrite(response.schema, outRefs) } };
    plan = { wrap: 'result' };
  }
  if (outRefs.size > 0) schema.$defs = c.builders.output.defs(outRefs);
  return { schema, plan };
}

/** The secret names the binding gives for the credential fields the operation reads. */
function secretsOf(fields: string[], binding: ConnectorInstanceBinding): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const field of fields) {
    const name = binding.secretNames[field];
    if (name) secrets[field] = name;
  }
  return secrets;
}

/**
 * The MCP tool: the mapping's name and description (else the generated name, and the operation's description,
 * summary or method and path), annotations from the method, the plan's idempotency and the mapping's overrides.
 */
function toolDefinition(
  entry: DocumentOperation,
  mapping: Mapping | undefined,
  plan: HttpOperationPlan,
  schemas: { input: JsonSchema; output: JsonSchema | undefined },
): ToolDefinition {
  const summary = entry.summary;
  const description =
    mapping?.mcp_tool_description ??
    (typeof entry.op.description === 'string' && entry.op.description.trim() ? entry.op.description : undefined) ??
    summary ??
    `${entry.method} ${entry.path}`;
  const annotations: ToolDefinition['annotations'] = { title: summary, ...annotationsFor(entry.method) };
  if (plan.idempotent !== undefined) annotations.idempotentHint = plan.idempotent;
  for (const [k, v] of Object.entries(mapping?.annotations ?? {})) (annotations as Record<string, unknown>)[k] = v;
  return {
    name: mapping?.mcp_tool_name ?? entry.toolName,
    title: summary,
    description,
    inputSchema: schemas.input,
    ...(schemas.output ? { outputSchema: schemas.output } : {}),
    annotations,
  };
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
function credentialsOf(doc: Json, op: Json, model: SecurityModel, descriptor: boolean): OperationCredentials {
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
  const compilation: Compilation = {
    doc: document,
    options,
    builders: { input: schemaBuilder(document, 'input'), output: schemaBuilder(document, 'output') },
    model: securityModel(document),
    descriptor,
  };
  return selected.map(([o, m]) => buildTool(compilation, o, m));
}

/**
 * The tools of an imported OpenAPI document (see importOpenApi): one per mapping, or one per operation
 * when there are no mappings. Throws ValidationError when a mapping names no operation, two mappings give
 * the same tool name, or an annotation override is not one of the MCP annotations.
 */
export function compileOpenApiTools(document: Record<string, unknown>, options: OpenApiToolOptions): HttpCatalogTool[] {
  return compileTools(document, options, false);
}
