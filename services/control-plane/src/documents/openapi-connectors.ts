import { DeclaredLabels, RouteResultShape, type DocumentIssue } from '@toolplane/contracts';
import { routeShapeProblems } from './route-shapes.ts';
import {
  capabilitiesRuleIssues,
  ConnectorCapabilities,
  ConnectorSla,
  DescriptorEvents,
  HttpUrl,
  humanName,
  RateLimit,
  zodIssues,
} from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import {
  assertDocumentDepth,
  compileOpenApiTools,
  connectorRateLimits,
  importOpenApi,
  loadDocument,
  type ConnectorInstanceBinding,
  type Discovery,
  type HttpCatalogTool,
  type OpenApiSource,
  type OpenApiToolOptions,
} from '@toolplane/openapi';
import { z } from 'zod';
import type { Fetcher } from './fetch.ts';
import { slugify } from './slug.ts';

/**
 * OpenAPI documents as a connector source. `POST /api/v1/connectors` takes either a plain
 * OpenAPI 2.0/3.x document (every operation becomes a tool, slug from `info.title`), or this envelope,
 * which adds the connector's identity, a bundle of files with relative `$ref`s, and seed-001
 * `mcp_config.route_mappings` (by `operationId`, or the generated tool name when there is none).
 */
const UserOAuth = z.strictObject({
  scheme: z.string().min(1).optional(),
  authorization_url: HttpUrl.optional(),
  token_url: HttpUrl.optional(),
  refresh_url: HttpUrl.optional(),
  revocation_url: HttpUrl.optional(),
  scopes: z.array(z.string().min(1)).optional(),
});

/** The readable part of an invalid `user_oauth` (each valid field), so the document's own problems are listed too. */
function readableUserOAuth(value: unknown): OpenApiEnvelope['user_oauth'] {
  if (value === true) return true;
  if (!isRecord(value)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(UserOAuth.shape)) {
    const parsed = field.safeParse(value[key]);
    if (parsed.success && parsed.data !== undefined) out[key] = parsed.data;
  }
  return out as z.infer<typeof UserOAuth>;
}

const ToolName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -');
/**
 * Strict, as every request body: an unknown field is a 422 (a typo such as `mcp_confg` would otherwise be dropped
 * silently). Its `capabilities`, `sla` and `rate_limits` are the descriptor's blocks and keep other keys, as there.
 */
export const OpenApiEnvelope = z.strictObject({
  kind: z.literal('openapi'),
  slug: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,99}$/, 'must be lower-case letters, digits and dashes (1-100 chars)')
    .optional(),
  name: humanName(200).optional(),
  version: z.string().min(1).max(50).optional(),
  description: z.string().max(2000).optional(),
  /** The document itself (text or parsed), or the entry file of `files`. */
  document: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
  entry: z.string().min(1).optional(),
  files: z.record(z.string(), z.string()).optional(),
  mcp_config: z
    .strictObject({
      enabled: z.boolean().optional(),
      server_name: z.string().min(1).max(100).optional(),
      server_description: z.string().min(1).max(500).optional(),
      route_mappings: z
        .array(
          z.strictObject({
            operation_id: z.string().min(1),
            mcp_tool_name: ToolName,
            mcp_tool_description: z.string().min(1).max(500),
            parameter_mappings: z.record(z.string(), z.string().min(1)).default({}),
            /** The tool's result shaped for models (ADR 0052); the server's `config.resultShapes` replaces it. */
            result_shape: RouteResultShape.optional(),
            /** The tool's data-flow labels (ADR 0078), beside its operation's `x-toolplane-labels`. */
            labels: DeclaredLabels.optional(),
            /** Overrides of the annotations inferred from the method. */
            annotations: z
              .strictObject({
                title: z.string().optional(),
                readOnlyHint: z.boolean().optional(),
                destructiveHint: z.boolean().optional(),
                idempotentHint: z.boolean().optional(),
                openWorldHint: z.boolean().optional(),
              })
              .optional(),
          }),
        )
        .default([]),
    })
    .optional(),
  rate_limits: z.array(RateLimit).default([]),
  /**
   * People connect their own accounts (ADR 0028): the document's `oauth2` `authorizationCode` (or `openIdConnect`)
   * scheme becomes the descriptor's `oauth2_authorization_code` method; the instance's credentials are the OAuth app
   * (`client_id`, `client_secret`). Endpoints and scopes default to the document's (an `openIdConnect` scheme's:
   * its discovery document's, read by a worker). Absent: the scheme's field takes a ready access token, as before.
   */
  user_oauth: z
    .union([z.literal(true), UserOAuth])
    .optional()
    .describe(
      "People connect their own accounts (docs/connecting-accounts.md): the document's oauth2 authorizationCode " +
        '(or openIdConnect) scheme; the fields override its endpoints and scopes. Absent: the scheme takes a ready token.',
    ),
  /** As in a seed-001 descriptor (validated the same way, shown on the connector). */
  capabilities: ConnectorCapabilities.optional(),
  sla: ConnectorSla.optional(),
  /** Event types the provider delivers to the instances' inbound URL (MCP Events), as in a descriptor. */
  events: DescriptorEvents.optional(),
});
type OpenApiEnvelope = z.infer<typeof OpenApiEnvelope>;

type RouteMappings = NonNullable<OpenApiEnvelope['mcp_config']>['route_mappings'];

/** What an OpenAPI connector keeps in the `descriptor` column: the descriptor shape the rest of the control plane reads. */
export interface StoredOpenApiConnector {
  metadata: { name: string; slug: string; version: string; description?: string };
  /** One method whose fields are the credentials the security schemes need. */
  authentication: { type: 'openapi'; fields: { key: string; required: boolean; secret: boolean }[] }[];
  operations: [];
  rate_limits: z.infer<typeof RateLimit>[];
  capabilities?: ConnectorCapabilities;
  sla?: ConnectorSla;
  events?: DescriptorEvents;
  mcp_config: { enabled: boolean; server_name?: string; server_description?: string; route_mappings: RouteMappings };
  openapi: {
    operations: { operationId: string; toolName: string; method: string; path: string; summary?: string }[];
    warnings: DocumentIssue[];
  };
}

export interface ImportedConnector {
  slug: string;
  version: string;
  name: string;
  descriptor: StoredOpenApiConnector;
  document: Record<string, unknown>;
}

type ImportedOpenApi = Awaited<ReturnType<typeof importOpenApi>>;

/** Largest compiled tool set of one OpenAPI connector (GitHub's 1,223 operations take about 6 MB). */
const maxToolsBytes = 32e6;

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Parses a request body: JSON fast (large documents), YAML otherwise or for the error positions. */
export function parseBody(text: string): unknown {
  if (!text.trim())
    throw new ValidationError('the request body is empty', [
      { path: '', message: 'send a connector descriptor or an OpenAPI document as YAML or JSON' },
    ]);
  if (/^\s*[{[]/.test(text)) {
    let value: unknown;
    try {
      value = JSON.parse(text) as unknown;
    } catch {
      // fall through: the YAML parser reports the line and column
    }
    if (value !== undefined) {
      assertDocumentDepth(value);
      return value;
    }
  }
  return loadDocument(text);
}

/** An OpenAPI document, or the envelope around one (anything else is a connector descriptor). */
export function isOpenApiBody(value: unknown): boolean {
  return (
    isRecord(value) &&
    (value.kind === 'openapi' ||
      typeof value.openapi === 'string' ||
      typeof value.swagger === 'string' ||
      typeof value.swagger === 'number')
  );
}

function slugOf(title: string): string {
  return slugify(title, 100) || 'openapi';
}

function mappingIssues(
  mappings: RouteMappings,
  operations: StoredOpenApiConnector['openapi']['operations'],
): DocumentIssue[] {
  const issues: DocumentIssue[] = [];
  const known = new Set(operations.flatMap((o) => [o.operationId, o.toolName]));
  const names = new Map<string, number>();
  mappings.forEach((m, i) => {
    if (!m.operation_id) return; // unreadable in an invalid request: its shape problem is reported already
    if (!known.has(m.operation_id))
      issues.push({
        path: `/mcp_config/route_mappings/${i}/operation_id`,
        message: `operation_id "${m.operation_id}" matches no operationId (or generated tool name) of the document`,
      });
    const first = names.get(m.mcp_tool_name);
    if (first !== undefined)
      issues.push({
        path: `/mcp_config/route_mappings/${i}/mcp_tool_name`,
        message: `duplicate mcp_tool_name "${m.mcp_tool_name}" (first used at /mcp_config/route_mappings/${first})`,
      });
    else names.set(m.mcp_tool_name, i);
  });
  issues.push(...routeShapeProblems({ mcp_config: { route_mappings: mappings } }));
  return issues;
}

/** The parts of an invalid envelope that can still be checked: the document or bundle, and mappings naming an operation and a tool. */
function readableEnvelope(body: Record<string, unknown>): OpenApiEnvelope {
  const files =
    isRecord(body.files) && Object.values(body.files).every((v) => typeof v === 'string')
      ? (body.files as Record<string, string>)
      : undefined;
  const mappings =
    isRecord(body.mcp_config) && Array.isArray(body.mcp_config.route_mappings) ? body.mcp_config.route_mappings : [];
  const userOAuth = readableUserOAuth(body.user_oauth);
  return {
    kind: 'openapi',
    rate_limits: [],
    ...(userOAuth !== undefined ? { user_oauth: userOAuth } : {}),
    ...(typeof body.document === 'string' || isRecord(body.document)
      ? { document: body.document as string | Record<string, unknown> }
      : {}),
    ...(typeof body.entry === 'string' ? { entry: body.entry } : {}),
    ...(files ? { files } : {}),
    mcp_config: {
      // Unreadable entries keep their place (indices stay those of the request) and are not checked.
      route_mappings: mappings.map((m) =>
        isRecord(m) && typeof m.operation_id === 'string' && typeof m.mcp_tool_name === 'string'
          ? {
              operation_id: m.operation_id,
              mcp_tool_name: m.mcp_tool_name,
              mcp_tool_description: String(m.mcp_tool_description ?? ''),
              parameter_mappings: {},
            }
          : { operation_id: '', mcp_tool_name: '', mcp_tool_description: '', parameter_mappings: {} },
      ),
    },
  };
}

/** The connector is refused: the envelope's shape problems first, then the others. */
function invalidConnector(shapeIssues: DocumentIssue[], issues: DocumentIssue[]): ValidationError {
  return new ValidationError('the OpenAPI connector is invalid', [...shapeIssues, ...issues]);
}

/**
 * The envelope of a request body (a plain document gets an empty one). Shape problems of the envelope are reported
 * together with those of the document and the mappings: what is readable (document, files, mappings with string ids)
 * is checked anyway.
 */
function envelopeOf(body: unknown): { envelope: OpenApiEnvelope; shapeIssues: DocumentIssue[] } {
  if (!isRecord(body) || body.kind !== 'openapi')
    return { envelope: { kind: 'openapi', rate_limits: [] }, shapeIssues: [] };
  const parsed = OpenApiEnvelope.safeParse(body);
  const rules = capabilitiesRuleIssues(body.capabilities);
  if (parsed.success && rules.length === 0) return { envelope: parsed.data, shapeIssues: [] };
  return {
    envelope: readableEnvelope(body),
    shapeIssues: [...(parsed.success ? [] : zodIssues(parsed.error)), ...rules],
  };
}

/** The document an envelope carries: a bundle of `files` with its entry file, or `document` (text or parsed). */
function envelopeSource(envelope: OpenApiEnvelope, shapeIssues: DocumentIssue[]): OpenApiSource {
  if (envelope.files) {
    const entry =
      envelope.entry ??
      (typeof envelope.document === 'string' && envelope.files[envelope.document] !== undefined
        ? envelope.document
        : undefined);
    if (!entry) throw invalidConnector(shapeIssues, [{ path: '/entry', message: 'name the entry file of `files`' }]);
    if (envelope.files[entry] === undefined)
      throw invalidConnector(shapeIssues, [
        { path: '/entry', message: `"${entry}" is not one of the files (${Object.keys(envelope.files).join(', ')})` },
      ]);
    return { entry, files: envelope.files };
  }
  if (envelope.document !== undefined)
    return typeof envelope.document === 'string' ? envelope.document : JSON.stringify(envelope.document);
  throw invalidConnector(shapeIssues, [
    { path: '/document', message: 'send the OpenAPI document in `document`, or files in `files` with `entry`' },
  ]);
}

/** What the connector keeps in its `descriptor` column: the envelope's identity and settings, else the document's. */
function storedDescriptor(
  envelope: OpenApiEnvelope,
  imported: ImportedOpenApi,
  operations: StoredOpenApiConnector['openapi']['operations'],
): StoredOpenApiConnector {
  const description = envelope.description ?? imported.info.description;
  const mcpConfig = envelope.mcp_config;
  return {
    metadata: {
      name: envelope.name ?? imported.info.title,
      slug: envelope.slug ?? slugOf(imported.info.title),
      version: envelope.version ?? imported.info.version,
      ...(description ? { description: description.slice(0, 2000) } : {}),
    },
    authentication:
      imported.credentialFields.length > 0 ? [{ type: 'openapi', fields: imported.credentialFields }] : [],
    operations: [],
    rate_limits: envelope.rate_limits,
    ...(envelope.capabilities ? { capabilities: envelope.capabilities } : {}),
    ...(envelope.sla ? { sla: envelope.sla } : {}),
    ...(envelope.events ? { events: envelope.events } : {}),
    mcp_config: {
      enabled: mcpConfig?.enabled ?? true,
      ...(mcpConfig?.server_name ? { server_name: mcpConfig.server_name } : {}),
      ...(mcpConfig?.server_description ? { server_description: mcpConfig.server_description } : {}),
      route_mappings: mcpConfig?.route_mappings ?? [],
    },
    openapi: { operations, warnings: imported.warnings },
  };
}

/**
 * Compiles the connector's tools once: a document whose tools cannot be built is refused here, not at server time.
 * Catalogs travel through Redis and live in every edge's and worker's memory, so their size is bounded.
 */
function assertToolsCompile(descriptor: StoredOpenApiConnector, document: Record<string, unknown>): void {
  const tools = compileConnectorTools(descriptor, document, { secretNames: {} });
  const size = JSON.stringify(tools).length;
  if (size > maxToolsBytes) {
    throw new ValidationError('the OpenAPI connector is too large', [
      {
        path: '/mcp_config/route_mappings',
        message:
          `the document's ${tools.length} tools take ${(size / 1e6).toFixed(0)} MB of schemas ` +
          `(at most ${maxToolsBytes / 1e6} MB): map the operations agents need with mcp_config.route_mappings`,
      },
    ]);
  }
}

/**
 * Imports an OpenAPI connector from a request body (a document or the envelope). Throws a 422
 * listing every problem (document, references, mappings); nothing is stored by the caller then.
 */
export async function importOpenApiConnector(
  body: unknown,
  rawText: string,
  fetchDocument?: Fetcher,
): Promise<ImportedConnector> {
  const { envelope, shapeIssues } = envelopeOf(body);
  const source = isRecord(body) && body.kind === 'openapi' ? envelopeSource(envelope, shapeIssues) : rawText;
  let imported: ImportedOpenApi;
  try {
    const optIn = envelope.user_oauth;
    imported = await importOpenApi(
      source,
      optIn
        ? { userOAuth: optIn === true ? {} : optIn, ...(fetchDocument ? { discover: discoverer(fetchDocument) } : {}) }
        : {},
    );
  } catch (err) {
    if (err instanceof ValidationError && shapeIssues.length > 0) throw invalidConnector(shapeIssues, err.issues);
    throw err;
  }
  const operations = imported.operations.map((o) => ({
    operationId: o.operationId,
    toolName: o.toolName,
    method: o.method,
    path: o.path,
    ...(o.summary ? { summary: o.summary } : {}),
  }));
  const issues = [...mappingIssues(envelope.mcp_config?.route_mappings ?? [], operations), ...imported.userOAuthIssues];
  if (issues.length > 0 || shapeIssues.length > 0) throw invalidConnector(shapeIssues, issues);
  const descriptor = storedDescriptor(envelope, imported, operations);
  assertToolsCompile(descriptor, imported.document);
  return {
    slug: descriptor.metadata.slug,
    version: descriptor.metadata.version,
    name: descriptor.metadata.name.slice(0, 200),
    descriptor,
    document: imported.document,
  };
}

/** Largest OpenID Connect discovery document read for a `user_oauth` opt-in. */
const maxDiscoveryBytes = 1024 * 1024;

/** Reads an OpenID Connect discovery document through a worker (`document.fetch`: outbound guard, limits). */
function discoverer(fetchDocument: Fetcher) {
  return async (url: string): Promise<Discovery> => {
    const fetched = await fetchDocument(url, maxDiscoveryBytes);
    if (!fetched.ok) return { ok: false, error: fetched.error };
    try {
      const document: unknown = JSON.parse(fetched.content);
      return isRecord(document) ? { ok: true, document } : { ok: false, error: 'not a JSON object' };
    } catch {
      return { ok: false, error: 'not JSON' };
    }
  };
}

/** The tools of an OpenAPI connector for one binding (instance credentials, base URL, rate-limit owner). */
export function compileConnectorTools(
  descriptor: StoredOpenApiConnector,
  document: Record<string, unknown>,
  binding: ConnectorInstanceBinding,
): HttpCatalogTool[] {
  const mappings: OpenApiToolOptions['mappings'] = descriptor.mcp_config.route_mappings.map((m) => ({
    operation_id: m.operation_id,
    mcp_tool_name: m.mcp_tool_name,
    mcp_tool_description: m.mcp_tool_description,
    parameter_mappings: m.parameter_mappings,
    ...(m.annotations ? { annotations: m.annotations } : {}),
    ...(m.labels ? { labels: m.labels } : {}),
  }));
  const tools = compileOpenApiTools(document, { ...(mappings.length > 0 ? { mappings } : {}), binding });
  // Every operation of the connector shares the account's budget (as for descriptors, and workflow steps).
  const rateLimits = connectorRateLimits(descriptor.rate_limits, binding.rateLimitOwner);
  if (!rateLimits) return tools;
  return tools.map((t) => ({ ...t, plan: { ...t.plan, rateLimits } }));
}
