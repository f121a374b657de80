import { ValidationError } from '@toolplane/errors';
import { loadDocument, type OperationCredentials, operationCredentials } from '@toolplane/openapi';
import {
  checkCriteria,
  checkOutputOrder,
  checkStepRefs,
  checkValue,
  closeSecrets,
  declaredCost,
  escapePointer,
  implicitSuccess,
  isObject,
  objectInputSchema,
  Problems,
  type RefUse,
  secretNames,
  storedPayload,
} from './compile-common.ts';
import { fixedOrigin } from './credentials.ts';
import type { CompileResult } from './flower.ts';
import type {
  ActionIR,
  CredentialsIR,
  CriterionIR,
  JsonSchemaObject,
  ParameterIR,
  ParameterLocation,
  SourceIR,
  StepIR,
  WorkflowDocumentIR,
  WorkflowIR,
} from './ir.ts';
import {
  decodePointer,
  getPointer,
  indexOpenApi,
  joinUrl,
  type OpenApiSource,
  type SourceOperation,
} from './openapi-source.ts';
import { toolRef } from './tool-refs.ts';
import { validateArazzoSchema } from './validate.ts';

/**
 * Arazzo 1.0.x → IR. Source descriptions are resolved from the documents handed over with the
 * deployment (`references`: uploaded, fetched by the worker at deploy time, or a connector's), never
 * fetched here. Steps calling an operation (`operationId`, `operationPath`) become HTTP steps with the
 * operation's server URL and path (and, for a source bound to a connector instance, its credential
 * templates); `workflowId` steps call another workflow of the same document.
 */

export interface SourceReference {
  /** Where the document lives; matched against `sourceDescriptions[].url` (exactly, then by file name). */
  location: string;
  /** The document, as text (YAML or JSON) or already parsed. */
  content: unknown;
}

export interface ArazzoCompileOptions {
  references?: readonly SourceReference[];
  /**
   * Base URL per source description name, replacing the servers its OpenAPI document declares. Refused for a
   * source bound to a connector instance: its credentials go to the instance's base URL only.
   */
  servers?: Readonly<Record<string, string>>;
  /**
   * Sources bound to a connector instance, by source description name: steps calling their operations
   * carry the operations' credential templates (from the document's security requirements) bound to one
   * origin (`CredentialsIR.origin`), and the instance's `baseUrl` replaces the document's server as it
   * does for the connector's tools. `instance`: its name, for messages.
   */
  connectors?: Readonly<Record<string, { baseUrl?: string; instance?: string; descriptor?: boolean }>>;
  /**
   * Sources whose document describes the tools of an MCP server of the workspace (`toolplane:mcp_servers/<server>`,
   * `toolplane:external_mcp_servers/<name>`; docs/adr/0039): a step naming one of their operations calls that tool.
   */
  toolSources?: readonly string[];
}

/**
 * A connector instance's base URL in front of an operation's server (as the connector's own tools do): an
 * absolute server is replaced by it, a relative one is a path below it (never glued to its host).
 */
function rebase(serverUrl: string, baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(serverUrl)) return base;
  const path = serverUrl.replace(/\/+$/, '');
  if (path === '') return base;
  return path.startsWith('/') ? base + path : `${base}/${path}`;
}

function credentialsIR(c: OperationCredentials): CredentialsIR | undefined {
  const out: CredentialsIR = {};
  if (Object.keys(c.headers).length > 0) out.headers = c.headers;
  if (c.query && Object.keys(c.query).length > 0) out.query = c.query;
  if (c.cookies && Object.keys(c.cookies).length > 0) out.cookies = c.cookies;
  if (c.auth) out.auth = c.auth;
  return Object.keys(out).length > 0 ? out : undefined;
}

type Raw = Record<string, unknown>;

const locations: ParameterLocation[] = ['path', 'query', 'header', 'cookie'];

function baseName(url: string): string {
  const noQuery = url.split(/[?#]/)[0] ?? url;
  return noQuery.slice(noQuery.lastIndexOf('/') + 1);
}

function normaliseLocation(url: string): string {
  return url.replace(/^\.\//, '');
}

function findReference(url: string, name: string, refs: readonly SourceReference[]): SourceReference | undefined {
  // A resource of the workspace (`toolplane:connectors/notes`, `toolplane:mcp_servers/notes`) only by its own URL.
  if (url.startsWith('toolplane:')) return refs.find((r) => r.location === url);
  return (
    refs.find((r) => r.location === url) ??
    refs.find((r) => normaliseLocation(r.location) === normaliseLocation(url)) ??
    refs.find((r) => baseName(r.location) !== '' && baseName(r.location) === baseName(url)) ??
    refs.find((r) => r.location === name)
  );
}

/**
 * The source descriptions of an Arazzo document no reference answers (`index` in `sourceDescriptions`):
 * what the deployment has to fetch or look up before compiling. Nothing for a document that cannot be
 * read or is not Arazzo (the compiler reports those).
 */
export function unresolvedSources(
  definition: unknown,
  references: readonly SourceReference[],
): { index: number; name: string; url: string }[] {
  let doc: unknown = definition;
  if (typeof definition === 'string') {
    try {
      doc = loadDocument(definition);
    } catch {
      return [];
    }
  }
  if (!isObject(doc) || !('arazzo' in doc) || !Array.isArray(doc.sourceDescriptions)) return [];
  const out: { index: number; name: string; url: string }[] = [];
  doc.sourceDescriptions.forEach((sd: unknown, index) => {
    if (!isObject(sd) || typeof sd.name !== 'string' || typeof sd.url !== 'string') return;
    if ((sd.type ?? 'openapi') !== 'openapi') return;
    if (!findReference(sd.url, sd.name, references)) out.push({ index, name: sd.name, url: sd.url });
  });
  return out;
}

/**
 * A source bound to a connector instance: its operations on the instance's base URL, each operation's credential
 * templates bound to that one origin (the instance's base URL's; without one, the server of the connector's own
 * document). A deployment's `servers` override of the source is refused, as is a server whose origin is not fixed
 * (the steps calling such an operation are refused): whoever deploys a document cannot send the credentials
 * anywhere else.
 */
function bindToInstance(
  name: string,
  path: string,
  source: OpenApiSource,
  document: Raw,
  connector: { baseUrl?: string; instance?: string; descriptor?: boolean },
  overridden: boolean,
  problems: Problems,
): void {
  const instance = `connector instance${connector.instance !== undefined ? ` ${JSON.stringify(connector.instance)}` : ''}`;
  const baseUrl = connector.baseUrl ? connector.baseUrl.replace(/\/+$/, '') : undefined;
  if (overridden)
    problems.error(
      `/servers/${escapePointer(name)}`,
      `source ${JSON.stringify(name)} uses the credentials of ${instance}, which are only sent to its base URL ` +
        `(${baseUrl ?? 'the servers of its connector’s document, as it has none'}): a servers override cannot send ` +
        'them elsewhere; remove it, or change the instance’s base_url',
    );
  const baseOrigin = baseUrl !== undefined ? fixedOrigin(baseUrl) : undefined;
  if (baseUrl !== undefined && baseOrigin === undefined)
    problems.error(
      `${path}/url`,
      `the base URL of ${instance} (${baseUrl}) is not an absolute http(s) URL with a fixed host: its credentials cannot be bound to it`,
    );
  // A connector descriptor's document (descriptorToOpenApi) carries its operations' header templates.
  const credentials = operationCredentials(document, connector.descriptor === true);
  for (const op of source.operations) {
    if (baseUrl !== undefined) op.serverUrl = rebase(op.serverUrl, baseUrl);
    const c = credentials.get(`${op.method} ${op.path}`);
    const ir = c ? credentialsIR(c) : undefined;
    if (!ir) continue;
    const origin = baseUrl !== undefined ? baseOrigin : fixedOrigin(op.serverUrl);
    if (origin !== undefined && fixedOrigin(op.serverUrl) === origin) op.credentials = { origin, ...ir };
    else
      op.unbound =
        `operation ${op.operationId ?? op.pointer} of source ${JSON.stringify(name)} is served at ${op.serverUrl}, ` +
        `which has no fixed origin${origin !== undefined ? ` or is not on ${origin}` : ''}: the credentials of ${instance} ` +
        'are only sent to its base URL (set the instance’s base_url)';
  }
}

interface Ctx {
  doc: Raw;
  problems: Problems;
  sources: Map<string, OpenApiSource>;
  /** Sources whose operations are tools (`ArazzoCompileOptions.toolSources`). */
  toolSources: ReadonlySet<string>;
  workflowIds: Set<string>;
  components: Raw;
}

function resolveSources(doc: Raw, options: ArazzoCompileOptions, problems: Problems): Map<string, OpenApiSource> {
  const sources = new Map<string, OpenApiSource>();
  const refs = options.references ?? [];
  (doc.sourceDescriptions as Raw[]).forEach((sd, i) => {
    const path = `/sourceDescriptions/${i}`;
    const name = String(sd.name);
    const url = String(sd.url);
    if (sources.has(name))
      problems.error(`${path}/name`, `another source description is already named ${JSON.stringify(name)}`);
    if ((sd.type ?? 'openapi') !== 'openapi') {
      problems.error(
        `${path}/type`,
        'only OpenAPI source descriptions are supported; Arazzo sources (workflows from other documents) are not',
      );
      return;
    }
    const ref = findReference(url, name, refs);
    if (!ref) {
      problems.error(
        `${path}/url`,
        `no document was provided for ${url}: deploy it with the workflow document as a reference (location ${JSON.stringify(baseName(url) || url)}), ` +
          'or name it by an https URL or an OpenAPI connector of the workspace (toolplane:connectors/<slug>)',
      );
      return;
    }
    let document: unknown = ref.content;
    if (typeof document === 'string') {
      try {
        document = loadDocument(document);
      } catch (err) {
        const detail =
          err instanceof ValidationError
            ? err.issues.map((x) => x.message).join('; ')
            : err instanceof Error
              ? err.message
              : String(err);
        problems.error(`${path}/url`, `the document provided for ${url} could not be parsed: ${detail}`);
        return;
      }
    }
    if (!isObject(document)) {
      problems.error(`${path}/url`, `the document provided for ${url} is not an object`);
      return;
    }
    if (typeof document.swagger === 'string') {
      problems.error(`${path}/url`, `${url} is a Swagger ${document.swagger} document; convert it to OpenAPI 3 first`);
      return;
    }
    if (typeof document.openapi !== 'string' || !document.openapi.startsWith('3.')) {
      problems.error(`${path}/url`, `${url} is not an OpenAPI 3 document (no "openapi: 3.x" field)`);
      return;
    }
    const source = indexOpenApi(name, url, ref.location, document);
    const override = options.servers?.[name];
    const connector = options.connectors?.[name];
    if (connector) bindToInstance(name, path, source, document, connector, override !== undefined, problems);
    else if (override) for (const op of source.operations) op.serverUrl = override;
    const tools = options.toolSources?.includes(name) === true;
    if (!override && !tools && source.operations.some((op) => !/^https?:\/\//i.test(op.serverUrl))) {
      problems.warn(
        `${path}/url`,
        connector
          ? `the servers of ${url} are relative and its connector instance has no base URL; its operations cannot be called until the instance has a base_url`
          : `the servers of ${url} are relative and its location is not an absolute URL; its operations cannot be called until a server URL is configured`,
      );
    }
    sources.set(name, source);
  });
  return sources;
}

/** Splits `$sourceDescriptions.<name>.<rest>` using the declared source names (names may contain dots). */
function splitSourceExpression(expr: string, ctx: Ctx): { source: OpenApiSource; rest: string } | undefined {
  const body = expr.slice('$sourceDescriptions.'.length);
  const names = [...ctx.sources.keys()].sort((a, b) => b.length - a.length);
  for (const name of names) {
    if (body.startsWith(`${name}.`)) return { source: ctx.sources.get(name)!, rest: body.slice(name.length + 1) };
  }
  return undefined;
}

function resolveOperationId(
  raw: string,
  path: string,
  ctx: Ctx,
): { source: OpenApiSource; op: SourceOperation } | undefined {
  let candidates: OpenApiSource[];
  let opId = raw;
  if (raw.startsWith('$sourceDescriptions.')) {
    const split = splitSourceExpression(raw, ctx);
    if (!split) {
      ctx.problems.error(path, `${raw} names no declared source description`);
      return undefined;
    }
    candidates = [split.source];
    opId = split.rest;
  } else {
    candidates = [...ctx.sources.values()];
  }
  const exact = candidates.flatMap((source) =>
    source.operations.filter((op) => op.operationId === opId).map((op) => ({ source, op })),
  );
  if (exact.length === 1) return exact[0];
  if (exact.length > 1) {
    ctx.problems.error(
      path,
      `operationId ${JSON.stringify(opId)} exists in several source descriptions; write $sourceDescriptions.<name>.${opId}`,
    );
    return undefined;
  }
  const loose = candidates.flatMap((source) =>
    source.operations
      .filter((op) => op.operationId?.toLowerCase() === opId.toLowerCase())
      .map((op) => ({ source, op })),
  );
  if (loose.length === 1) {
    ctx.problems.warn(
      path,
      `operationId ${JSON.stringify(opId)} matched ${JSON.stringify(loose[0]!.op.operationId)} only when ignoring case`,
    );
    return loose[0];
  }
  if (candidates.length > 0)
    ctx.problems.error(
      path,
      `no operation has the operationId ${JSON.stringify(opId)} in ${candidates.map((c) => c.name).join(', ')}`,
    );
  return undefined;
}

function resolveOperationPath(
  raw: string,
  path: string,
  ctx: Ctx,
): { source: OpenApiSource; op: SourceOperation } | undefined {
  const m = /^\{?(\$sourceDescriptions\.[^}#]+?)\.url\}?#(.*)$/.exec(raw);
  if (!m) {
    ctx.problems.error(path, 'operationPath must look like {$sourceDescriptions.<name>.url}#/paths/<path>/<method>');
    return undefined;
  }
  const name = m[1]!.slice('$sourceDescriptions.'.length);
  const source = ctx.sources.get(name);
  if (!source) {
    if (ctx.problems.errors.every((e) => !e.path.startsWith('/sourceDescriptions')))
      ctx.problems.error(path, `no source description is named ${JSON.stringify(name)}`);
    return undefined;
  }
  const tokens = decodePointer(m[2]!);
  const target = getPointer(source.document, tokens);
  if (target === undefined) {
    ctx.problems.error(path, `${m[2]} points at nothing in ${source.url}`);
    return undefined;
  }
  if (tokens.length === 3 && tokens[0] === 'paths') {
    const op = source.operations.find((o) => o.path === tokens[1] && o.method === tokens[2]!.toUpperCase());
    if (op) return { source, op };
  }
  if (tokens.length === 2 && tokens[0] === 'paths') {
    // A pointer to a path item: acceptable when it holds exactly one operation.
    const ops = source.operations.filter((o) => o.path === tokens[1]);
    if (ops.length === 1) {
      ctx.problems.warn(
        path,
        `${m[2]} points at a path item, not an operation; using its only operation (${ops[0]!.method})`,
      );
      return { source, op: ops[0]! };
    }
    ctx.problems.error(path, `${m[2]} points at a path item with ${ops.length} operations; add the method (e.g. /get)`);
    return undefined;
  }
  ctx.problems.error(path, `${m[2]} does not point at an operation (#/paths/<path>/<method>)`);
  return undefined;
}

/** Resolves a Reusable Object (`reference: $components.<kind>.<name>`). */
function reusable(
  raw: Raw,
  kind: 'parameters' | 'successActions' | 'failureActions',
  path: string,
  ctx: Ctx,
): Raw | undefined {
  if (typeof raw.reference !== 'string') return raw;
  const prefix = `$components.${kind}.`;
  if (!raw.reference.startsWith(prefix)) {
    ctx.problems.error(`${path}/reference`, `must reference $components.${kind}.<name>`);
    return undefined;
  }
  const key = raw.reference.slice(prefix.length);
  const found = isObject(ctx.components[kind]) ? (ctx.components[kind] as Raw)[key] : undefined;
  if (!isObject(found)) {
    ctx.problems.error(`${path}/reference`, `components.${kind} has no ${JSON.stringify(key)}`);
    return undefined;
  }
  return kind === 'parameters' && raw.value !== undefined ? { ...found, value: raw.value } : found;
}

function criterion(raw: Raw, path: string, ctx: Ctx): CriterionIR | undefined {
  const t = raw.type;
  let type: string = 'simple';
  if (typeof t === 'string') type = t;
  else if (isObject(t)) type = String(t.type);
  if (type === 'xpath') {
    ctx.problems.error(
      `${path}/type`,
      'xpath criteria are not supported (the data plane does not evaluate XML); use a regex or jsonpath criterion',
    );
    return undefined;
  }
  if (type !== 'simple' && type !== 'regex' && type !== 'jsonpath') {
    ctx.problems.error(`${path}/type`, `unknown criterion type ${JSON.stringify(type)}`);
    return undefined;
  }
  const c: CriterionIR = { type, condition: String(raw.condition) };
  if (typeof raw.context === 'string') c.context = raw.context;
  return c;
}

function criteriaList(raw: unknown, path: string, ctx: Ctx): CriterionIR[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((c, i) => {
    const r = isObject(c) ? criterion(c, `${path}/${i}`, ctx) : undefined;
    return r ? [r] : [];
  });
}

function compileActions(
  raw: unknown,
  kind: 'successActions' | 'failureActions',
  path: string,
  stepIds: ReadonlySet<string>,
  ctx: Ctx,
  refs: RefUse[],
): ActionIR[] {
  if (!Array.isArray(raw)) return [];
  const out: ActionIR[] = [];
  raw.forEach((item, i) => {
    const p = `${path}/${i}`;
    const a = isObject(item) ? reusable(item, kind, p, ctx) : undefined;
    if (!a) return;
    const type = String(a.type) as ActionIR['type'];
    const criteria = criteriaList(a.criteria, `${p}/criteria`, ctx);
    checkCriteria(criteria, `${p}/criteria`, 'arazzo', ctx.problems, refs);
    const action: ActionIR = { name: String(a.name), type, criteria };
    if (typeof a.stepId === 'string') {
      action.stepId = a.stepId;
      if (!stepIds.has(a.stepId))
        ctx.problems.error(`${p}/stepId`, `there is no step ${JSON.stringify(a.stepId)} in this workflow`);
    }
    if (typeof a.workflowId === 'string') {
      action.workflowId = a.workflowId;
      if (a.workflowId.startsWith('$sourceDescriptions.'))
        ctx.problems.error(`${p}/workflowId`, 'workflows of other Arazzo documents are not supported');
      else if (!ctx.workflowIds.has(a.workflowId))
        ctx.problems.error(`${p}/workflowId`, `there is no workflow ${JSON.stringify(a.workflowId)} in this document`);
    }
    if (type === 'retry') {
      const after = typeof a.retryAfter === 'number' ? a.retryAfter : 1;
      action.retryAfterMs = Math.round(after * 1000);
      action.retryLimit = typeof a.retryLimit === 'number' ? a.retryLimit : 1;
      action.onExhausted = 'continue';
    }
    out.push(action);
  });
  return out;
}

/** Step actions first; workflow-level actions apply too unless a step action of the same name overrides them. */
function mergeActions(step: ActionIR[], workflow: ActionIR[]): ActionIR[] {
  const names = new Set(step.map((a) => a.name));
  return [...step, ...workflow.filter((a) => !names.has(a.name))];
}

function compileParameters(raw: unknown, path: string, ctx: Ctx): (ParameterIR & { path: string })[] {
  if (!Array.isArray(raw)) return [];
  const out: (ParameterIR & { path: string })[] = [];
  raw.forEach((item, i) => {
    const p = `${path}/${i}`;
    const r = isObject(item) ? reusable(item, 'parameters', p, ctx) : undefined;
    if (!r) return;
    const param: ParameterIR & { path: string } = { name: String(r.name), value: r.value, path: p };
    if (typeof r.in === 'string') {
      if (!locations.includes(r.in as ParameterLocation))
        ctx.problems.error(`${p}/in`, `must be one of ${locations.join(', ')}`);
      param.in = r.in as ParameterLocation;
    }
    out.push(param);
  });
  return out;
}

function mergeParameters<T extends ParameterIR>(workflowLevel: T[], stepLevel: T[]): T[] {
  const key = (p: ParameterIR): string => `${p.in ?? ''}:${p.name}`;
  const stepKeys = new Set(stepLevel.map(key));
  return [...workflowLevel.filter((p) => !stepKeys.has(key(p))), ...stepLevel];
}

/** Inlines local `$ref`s of an input schema (`#/components/inputs/...`). */
function inlineRefs(schema: unknown, ctx: Ctx, path: string, seen: readonly string[] = []): unknown {
  if (Array.isArray(schema)) return schema.map((s) => inlineRefs(s, ctx, path, seen));
  if (!isObject(schema)) return schema;
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith('#')) {
    const ref = schema.$ref;
    if (seen.includes(ref)) {
      ctx.problems.error(path, `input schema ${ref} refers to itself; recursive input schemas are not supported`);
      return {};
    }
    const target = getPointer(ctx.doc, decodePointer(ref.slice(1)));
    if (target === undefined) {
      ctx.problems.error(path, `${ref} points at nothing in this document`);
      return {};
    }
    const { $ref: _ignored, ...siblings } = schema;
    const resolved = inlineRefs(target, ctx, path, [...seen, ref]);
    return isObject(resolved) ? { ...resolved, ...(inlineRefs(siblings, ctx, path, seen) as Raw) } : resolved;
  }
  const out: Raw = {};
  for (const [k, v] of Object.entries(schema)) out[k] = inlineRefs(v, ctx, path, seen);
  return out;
}

/** The operation a step names (`operationId` or `operationPath`), or the workflow it calls; problems are reported. */
function stepTarget(raw: Raw, path: string, ctx: Ctx): { target?: StepIR['target']; op?: SourceOperation } {
  const byOperation =
    typeof raw.operationId === 'string'
      ? resolveOperationId(raw.operationId, `${path}/operationId`, ctx)
      : typeof raw.operationPath === 'string'
        ? resolveOperationPath(raw.operationPath, `${path}/operationPath`, ctx)
        : undefined;
  if (byOperation) {
    const { op, source } = byOperation;
    // A tool of an MCP server of the workspace (its document lists the server's tools as operations).
    if (ctx.toolSources.has(source.name) && op.operationId !== undefined)
      return {
        target: { kind: 'tool', ref: toolRef(source.url, op.operationId), tool: op.operationId, source: source.name },
      };
    const target: StepIR['target'] = {
      kind: 'http',
      method: op.method,
      url: joinUrl(op.serverUrl, op.path),
      source: source.name,
    };
    if (op.operationId) target.operationId = op.operationId;
    if (op.requestContentTypes[0]) target.defaultContentType = op.requestContentTypes[0];
    if (op.credentials) target.credentials = op.credentials;
    const where = `${path}/${typeof raw.operationId === 'string' ? 'operationId' : 'operationPath'}`;
    if (op.unbound) ctx.problems.error(where, op.unbound);
    if (op.costIgnored) ctx.problems.warn(where, `operation ${op.operationId ?? op.pointer}: ${op.costIgnored}`);
    return { target, op };
  }
  if (typeof raw.workflowId !== 'string') return {};
  if (raw.workflowId.startsWith('$sourceDescriptions.'))
    ctx.problems.error(`${path}/workflowId`, 'workflows of other Arazzo documents are not supported');
  else if (!ctx.workflowIds.has(raw.workflowId))
    ctx.problems.error(`${path}/workflowId`, `there is no workflow ${JSON.stringify(raw.workflowId)} in this document`);
  else return { target: { kind: 'workflow', workflowId: raw.workflowId } };
  return {};
}

/**
 * One parameter of a step calling an operation: it needs `in`; it may not set the Host header of a step sending an
 * instance's credentials; a parameter the operation does not declare, or a path parameter without its placeholder,
 * is a warning (sent anyway).
 */
function checkOperationParameter(
  p: ParameterIR & { path: string },
  target: Extract<StepIR['target'], { kind: 'http' }>,
  op: SourceOperation | undefined,
  ctx: Ctx,
): void {
  if (!p.in) ctx.problems.error(`${p.path}/in`, 'is required for a parameter of an operation');
  else if (p.in === 'header' && p.name.toLowerCase() === 'host' && target.credentials)
    ctx.problems.error(
      `${p.path}/name`,
      `a step sending the credentials of the connector instance of source ${JSON.stringify(target.source)} cannot set ` +
        'the Host header (they are only sent to the instance’s own site)',
    );
  else if (
    op &&
    p.in !== 'cookie' &&
    !op.parameters.has(`${p.in}:${p.name}`) &&
    !(p.in === 'header' && [...op.parameters].some((k) => k.toLowerCase() === `header:${p.name.toLowerCase()}`))
  ) {
    ctx.problems.warn(
      `${p.path}/name`,
      `operation ${op.operationId ?? op.pointer} declares no ${p.in} parameter ${JSON.stringify(p.name)}; it is sent anyway`,
    );
  }
  if (p.in === 'path' && op && !op.path.includes(`{${p.name}}`))
    ctx.problems.warn(`${p.path}/name`, `the path ${op.path} has no {${p.name}} placeholder`);
}

/** A step's request body: its payload and JSON-pointer replacements (XPath targets are refused). */
function stepBody(raw: Raw, path: string, target: StepIR['target'] | undefined, ctx: Ctx, refs: RefUse[]) {
  if (!isObject(raw.requestBody)) return undefined;
  const rb = raw.requestBody;
  const replacements: { target: string; value: unknown }[] = [];
  if (Array.isArray(rb.replacements)) {
    rb.replacements.forEach((r, i) => {
      if (!isObject(r)) return;
      const t = String(r.target);
      if (t !== '' && !t.startsWith('/'))
        ctx.problems.error(
          `${path}/requestBody/replacements/${i}/target`,
          'only JSON pointer targets are supported (XPath targets are not)',
        );
      checkValue(r.value, `${path}/requestBody/replacements/${i}/value`, 'arazzo', ctx.problems, refs);
      replacements.push({ target: t, value: r.value });
    });
  }
  checkValue(rb.payload, `${path}/requestBody/payload`, 'arazzo', ctx.problems, refs);
  const body: NonNullable<StepIR['body']> = { payload: storedPayload(rb.payload), replacements };
  if (typeof rb.contentType === 'string') body.contentType = rb.contentType;
  if (target?.kind === 'workflow')
    ctx.problems.warn(`${path}/requestBody`, 'a step calling a workflow sends no request body; it is ignored');
  return body;
}

function compileStep(
  raw: Raw,
  path: string,
  wfParams: (ParameterIR & { path: string })[],
  wfSuccess: ActionIR[],
  wfFailure: ActionIR[],
  stepIds: ReadonlySet<string>,
  ctx: Ctx,
  refs: RefUse[],
): StepIR {
  const { target, op } = stepTarget(raw, path, ctx);
  const params = mergeParameters(wfParams, compileParameters(raw.parameters, `${path}/parameters`, ctx));
  for (const p of params) {
    checkValue(p.value, `${p.path}/value`, 'arazzo', ctx.problems, refs);
    if (target?.kind === 'http') checkOperationParameter(p, target, op, ctx);
  }
  if (target?.kind === 'tool' && params.length > 0)
    ctx.problems.error(
      params[0]!.path,
      `a step calling the tool ${JSON.stringify(target.tool)} takes its arguments from requestBody.payload; it has no parameters`,
    );
  const successCriteria = criteriaList(raw.successCriteria, `${path}/successCriteria`, ctx);
  checkCriteria(successCriteria, `${path}/successCriteria`, 'arazzo', ctx.problems, refs);
  const step: StepIR = {
    id: String(raw.stepId),
    target: target ?? { kind: 'workflow', workflowId: '' },
    parameters: params.map(({ path: _p, ...rest }) => rest),
    successCriteria: successCriteria.length > 0 || target?.kind === 'workflow' ? successCriteria : [implicitSuccess],
    onSuccess: mergeActions(
      compileActions(raw.onSuccess, 'successActions', `${path}/onSuccess`, stepIds, ctx, refs),
      wfSuccess,
    ),
    onFailure: mergeActions(
      compileActions(raw.onFailure, 'failureActions', `${path}/onFailure`, stepIds, ctx, refs),
      wfFailure,
    ),
    outputs: isObject(raw.outputs) ? Object.entries(raw.outputs) : [],
  };
  if (step.target.kind === 'http' && op?.cost !== undefined) step.cost = op.cost;
  if (step.target.kind === 'http' && op?.labels !== undefined) step.labels = op.labels;
  if (typeof raw.description === 'string') step.description = raw.description;
  for (const [name, value] of step.outputs)
    checkValue(value, `${path}/outputs/${escapePointer(name)}`, 'arazzo', ctx.problems, refs);
  // A workflow step's `$outputs` are the called workflow's, not its own.
  if (step.target.kind !== 'workflow') checkOutputOrder(step.outputs, `${path}/outputs`, 'arazzo', ctx.problems);
  const body = stepBody(raw, path, target, ctx, refs);
  if (body) step.body = body;
  return step;
}

/** A workflow's `dependsOn`: each must name another workflow of this document. */
function checkedDependsOn(w: Raw, id: string, wp: string, ctx: Ctx): string[] {
  const dependsOn = Array.isArray(w.dependsOn) ? w.dependsOn.map(String) : [];
  dependsOn.forEach((dep, i) => {
    if (dep.startsWith('$sourceDescriptions.'))
      ctx.problems.error(`${wp}/dependsOn/${i}`, 'workflows of other Arazzo documents are not supported');
    else if (!ctx.workflowIds.has(dep))
      ctx.problems.error(`${wp}/dependsOn/${i}`, `there is no workflow ${JSON.stringify(dep)} in this document`);
    else if (dep === id) ctx.problems.error(`${wp}/dependsOn/${i}`, 'a workflow cannot depend on itself');
  });
  return dependsOn;
}

function checkDependsOnCycles(workflows: WorkflowIR[], ctx: Ctx): void {
  const byId = new Map(workflows.map((w) => [w.id, w]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, trail: string[]): void => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') {
      const i = workflows.findIndex((w) => w.id === trail[0]);
      ctx.problems.error(`/workflows/${i}/dependsOn`, `dependsOn forms a cycle: ${[...trail, id].join(' → ')}`);
      return;
    }
    state.set(id, 'visiting');
    for (const d of byId.get(id)?.dependsOn ?? []) visit(d, [...trail, id]);
    state.set(id, 'done');
  };
  for (const w of workflows) visit(w.id, []);
}

/** A workflow's tool takes its dependencies' inputs too (they run with the caller's arguments). */
function mergeDependencyInputs(workflows: WorkflowIR[]): void {
  const byId = new Map(workflows.map((w) => [w.id, w]));
  for (const w of workflows) {
    const props = { ...((w.inputSchema.properties as Raw | undefined) ?? {}) };
    const required = new Set<string>(Array.isArray(w.inputSchema.required) ? (w.inputSchema.required as string[]) : []);
    const seen = new Set<string>([w.id]);
    const queue = [...w.dependsOn];
    while (queue.length > 0) {
      const dep = byId.get(queue.shift()!);
      if (!dep || seen.has(dep.id)) continue;
      seen.add(dep.id);
      for (const [k, v] of Object.entries((dep.inputSchema.properties as Raw | undefined) ?? {}))
        if (!(k in props)) props[k] = v;
      if (Array.isArray(dep.inputSchema.required))
        for (const r of dep.inputSchema.required as string[]) required.add(r);
      queue.push(...dep.dependsOn);
    }
    if (seen.size > 1) {
      w.inputSchema = { ...w.inputSchema, properties: props };
      if (required.size > 0) w.inputSchema.required = [...required];
    }
  }
}

export function compileArazzo(doc: unknown, options: ArazzoCompileOptions = {}): CompileResult {
  const schemaIssues = validateArazzoSchema(doc);
  if (schemaIssues.length > 0) throw new ValidationError('the Arazzo document is not valid', schemaIssues);
  const d = doc as Raw;
  const problems = new Problems();
  const ctx: Ctx = {
    doc: d,
    problems,
    sources: resolveSources(d, options, problems),
    toolSources: new Set(options.toolSources ?? []),
    workflowIds: new Set((d.workflows as Raw[]).map((w) => String(w.workflowId))),
    components: isObject(d.components) ? d.components : {},
  };
  const workflows: WorkflowIR[] = [];
  const seenIds = new Set<string>();
  (d.workflows as Raw[]).forEach((w, wi) => {
    const wp = `/workflows/${wi}`;
    const id = String(w.workflowId);
    if (seenIds.has(id))
      problems.error(`${wp}/workflowId`, `another workflow already has the id ${JSON.stringify(id)}`);
    seenIds.add(id);
    const rawSteps = w.steps as Raw[];
    const stepIds = new Set<string>();
    rawSteps.forEach((s, si) => {
      const sid = String(s.stepId);
      if (stepIds.has(sid))
        problems.error(
          `${wp}/steps/${si}/stepId`,
          `another step of this workflow already has the id ${JSON.stringify(sid)}`,
        );
      stepIds.add(sid);
    });
    const refs: RefUse[] = [];
    const wfParams = compileParameters(w.parameters, `${wp}/parameters`, ctx);
    const wfSuccess = compileActions(w.successActions, 'successActions', `${wp}/successActions`, stepIds, ctx, refs);
    const wfFailure = compileActions(w.failureActions, 'failureActions', `${wp}/failureActions`, stepIds, ctx, refs);
    // A step whose target could not be resolved keeps a placeholder so that references to it are
    // still checked; the compile fails anyway on the error recorded for the target.
    const steps = rawSteps.map((s, si) =>
      compileStep(s, `${wp}/steps/${si}`, wfParams, wfSuccess, wfFailure, stepIds, ctx, refs),
    );
    const outputs = isObject(w.outputs) ? w.outputs : {};
    for (const [name, value] of Object.entries(outputs))
      checkValue(value, `${wp}/outputs/${escapePointer(name)}`, 'arazzo', problems, refs);
    const dependsOn = checkedDependsOn(w, id, wp, ctx);
    const inputs = inlineRefs(w.inputs, ctx, `${wp}/inputs`);
    const wf: WorkflowIR = {
      id,
      inputSchema: objectInputSchema(inputs, `${wp}/inputs`, problems) as JsonSchemaObject,
      dependsOn,
      steps,
      outputs: Object.entries(outputs),
      secrets: secretNames(refs),
      ...declaredCost(w, wp, problems),
    };
    if (typeof w.summary === 'string') wf.summary = w.summary;
    if (typeof w.description === 'string') wf.description = w.description;
    checkOutputOrder(wf.outputs, `${wp}/outputs`, 'arazzo', problems);
    for (const r of refs) {
      if (
        r.ref.root === 'sourceDescriptions' &&
        r.ref.path[0] !== undefined &&
        !ctx.sources.has(r.ref.path[0]) &&
        !problems.errors.some((e) => e.path.startsWith('/sourceDescriptions'))
      ) {
        problems.error(r.path, `${r.ref.text}: no source description is named ${JSON.stringify(r.ref.path[0])}`);
      }
      if (r.ref.root === 'workflows' && r.ref.path[0] !== undefined && !ctx.workflowIds.has(r.ref.path[0])) {
        problems.error(r.path, `${r.ref.text}: there is no workflow ${JSON.stringify(r.ref.path[0])} in this document`);
      }
    }
    checkStepRefs(wf, refs, problems);
    workflows.push(wf);
  });
  checkDependsOnCycles(workflows, ctx);
  if (problems.errors.length > 0) throw new ValidationError('the Arazzo document is not valid', problems.errors);
  closeSecrets(workflows);
  mergeDependencyInputs(workflows);
  const info = d.info as Raw;
  const sources: Record<string, SourceIR> = {};
  for (const s of ctx.sources.values()) sources[s.name] = { name: s.name, url: s.url, type: 'openapi' };
  const ir: WorkflowDocumentIR = {
    v: 2,
    format: 'arazzo',
    id: String(info.title),
    title: String(info.title),
    workflows,
    sources,
    components: ctx.components,
  };
  if (typeof info.description === 'string') ir.description = info.description;
  else if (typeof info.summary === 'string') ir.description = info.summary;
  return { ir, warnings: problems.warnings };
}
