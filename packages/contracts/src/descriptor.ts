import { z } from 'zod';
import { HttpUrl, humanName } from './input-rules.ts';
import { DataLabel } from './session.ts';

/**
 * Connector descriptor. Field names are the product specification's, exactly. Unknown top-level keys are kept
 * (`looseObject`) so newer descriptors survive a round trip; unknown keys inside known objects too.
 */
const FieldType = z.enum(['string', 'integer', 'number', 'boolean', 'array', 'object', 'secret']);
type FieldType = z.infer<typeof FieldType>;

export const HttpMethod = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
export type HttpMethod = z.infer<typeof HttpMethod>;

export const ParameterLocation = z.enum(['path', 'query', 'header', 'cookie', 'body']);
export type ParameterLocation = z.infer<typeof ParameterLocation>;

const DescriptorMetadata = z.looseObject({
  name: humanName(200),
  slug: z.string().regex(/^[a-z0-9][a-z0-9-]{0,99}$/, 'must be lower-case letters, digits and dashes (1-100 chars)'),
  version: z.string().min(1).max(50),
  description: z.string().max(2000).optional(),
  publisher: z.string().max(200).optional(),
  categories: z.array(z.string()).optional(),
});

const AuthField = z.looseObject({
  key: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an identifier (letters, digits, _)'),
  label: z.string().optional(),
  field_type: FieldType.default('string'),
  required: z.boolean().default(false),
  secret: z.boolean().default(false),
});

const TestEndpoint = z.looseObject({
  url: HttpUrl,
  method: HttpMethod.default('GET'),
  expected_status: z.number().int().min(100).max(599).default(200),
});

/**
 * `type` is free-form; these have built-in behaviour when an operation has no `auth_headers`:
 * `bearer` (Authorization: Bearer <first secret field>), `basic` (fields `username`, `password`),
 * `oauth2_client_credentials` (fields `client_id`, `client_secret`; `token_url` and `scopes` here), and
 * `oauth2_authorization_code`: each external user connects their own account (fields `client_id`,
 * `client_secret`: the workspace's OAuth app; `authorization_url`, `token_url`, optional `revocation_url` and
 * `scopes` here).
 */
const AuthenticationMethod = z.looseObject({
  type: z.string().min(1),
  fields: z.array(AuthField).default([]),
  test_endpoint: TestEndpoint.optional(),
  authorization_url: HttpUrl.optional(),
  token_url: HttpUrl.optional(),
  revocation_url: HttpUrl.optional(),
  scopes: z.array(z.string()).optional(),
});

export const OperationParameter = z.looseObject({
  name: z.string().min(1).max(200),
  location: ParameterLocation,
  field_type: FieldType.default('string'),
  description: z.string().max(2000).optional(),
  required: z.boolean().default(false),
  default_value: z.unknown().optional(),
});
export type OperationParameter = z.infer<typeof OperationParameter>;

const Operation = z.looseObject({
  operation_id: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be 1-100 letters, digits, _, . or -'),
  endpoint: HttpUrl,
  method: z
    .string()
    .transform((m) => m.toUpperCase())
    .pipe(HttpMethod),
  summary: z.string().max(2000).optional(),
  description: z.string().max(5000).optional(),
  auth_type_ref: z.string().optional(),
  auth_headers: z.record(z.string(), z.string()).default({}),
  parameters: z.array(OperationParameter).default([]),
  /** Overrides the method's default (GET, HEAD, PUT, DELETE, OPTIONS idempotent): may a re-delivered call send it again? */
  idempotent: z.boolean().optional(),
  /** What one call costs against cost quotas (ADR 0048): a whole number of units; absent: 1. */
  cost: z.number().int().min(0).max(1_000_000_000).optional(),
  /** The API deduplicates requests by this header (e.g. `Idempotency-Key`): the worker sends one per invocation. */
  idempotency_key_header: z
    .string()
    .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'must be an HTTP header name')
    .optional(),
});
type Operation = z.infer<typeof Operation>;

export const RateLimit = z.looseObject({
  scope: z.string().default('per_account'),
  limit: z.number().int().positive(),
  interval_seconds: z.number().int().positive(),
});

/**
 * A tool's result shaped for models (ADR 0052), declared with its route mapping: a JMESPath `projection` and an item
 * cap (`max_items`); the server's `config.resultShapes` entry for the same tool replaces it.
 */
export const RouteResultShape = z.strictObject({
  projection: z.string().min(1).max(2000).optional(),
  max_items: z.number().int().min(1).max(10_000).optional(),
});

/**
 * A tool's declared data-flow labels (ADR 0078, docs/governance.md "Where a tool's labels come from"): what each of
 * its results brings into the caller's session (`private`, `untrusted`) and what it does with what it is sent
 * (`public_write`, `external_write`). Each label once; a repeated one is a problem at its own index.
 */
export const DeclaredLabels = z
  .array(DataLabel, { error: 'must be a list of labels: private, untrusted, public_write, external_write' })
  // Each label once: at most four.
  .check(
    z.superRefine(
      (labels: unknown, ctx) => {
        if (!Array.isArray(labels)) return;
        labels.forEach((l: unknown, i) => {
          if (labels.indexOf(l) !== i)
            ctx.addIssue({ code: 'custom', path: [i], message: `duplicate label "${String(l)}"` });
        });
      },
      // Listed with the other problems of the list (an unknown label beside a repeated one).
      { when: () => true },
    ),
  );

const RouteMapping = z.looseObject({
  operation_id: z.string().min(1),
  mcp_tool_name: z.string().min(1).max(100),
  mcp_tool_description: z.string().min(1).max(500),
  parameter_mappings: z.record(z.string(), z.string().min(1)).default({}),
  result_shape: RouteResultShape.optional(),
  /** The tool's data-flow labels (ADR 0078); a curated connector declares its defaults here. */
  labels: DeclaredLabels.optional(),
});
type RouteMapping = z.infer<typeof RouteMapping>;

const McpConfig = z.looseObject({
  enabled: z.boolean().default(false),
  server_name: z.string().min(1).max(100).optional(),
  server_description: z.string().min(1).max(500).optional(),
  route_mappings: z.array(RouteMapping).default([]),
});

/**
 * How a connector's data can be synchronised (the descriptor's `capabilities.sync_modes`): `full_refresh` reads
 * everything each time, `incremental` only what changed since the last run.
 */
const SyncMode = z.enum(['full_refresh', 'incremental']);

/** What the connector can do beyond its operations (the descriptor's `capabilities` block). Other keys are kept as written. */
export const ConnectorCapabilities = z.looseObject({
  sync_modes: z.array(SyncMode).min(1, 'list at least one sync mode, or leave sync_modes out').optional(),
  supports_schema_discovery: z.boolean().optional(),
});
export type ConnectorCapabilities = z.infer<typeof ConnectorCapabilities>;

/** What the API behind the connector promises (the descriptor's `sla` block). Other keys are kept as written. */
export const ConnectorSla = z.looseObject({
  availability_percentage: z
    .number({ error: 'must be a number (a percentage)' })
    .min(0, 'must be between 0 and 100')
    .max(100, 'must be between 0 and 100')
    .optional(),
  latency_ms_p95: z
    .number({ error: 'must be a number of milliseconds' })
    .positive('must be a positive number of milliseconds')
    .optional(),
});
export type ConnectorSla = z.infer<typeof ConnectorSla>;

/**
 * One event type a connector's provider sends to its instances' inbound URL (MCP Events, docs/events.md): `name` as
 * subscribers see it, the provider's own type names it is made of (`match`: GitHub `push`, `issues.opened`; Stripe
 * `payment_intent.succeeded`; Slack `message`), the subscription's arguments (`input_schema`) and, per argument, the
 * JSON Pointer into the payload it must equal (`filters`).
 */
const DescriptorEventType = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be 1-128 letters, digits, _, . or -'),
  title: z.string().min(1).max(200).optional(),
  description: z.string().min(1).max(1000).optional(),
  match: z.array(z.string().min(1).max(200)).min(1, 'name at least one provider event type'),
  input_schema: z.record(z.string(), z.unknown()).optional(),
  payload_schema: z.record(z.string(), z.unknown()).optional(),
  filters: z.record(z.string(), z.string().regex(/^(\/[^/]*)*$/, 'must be a JSON Pointer')).optional(),
  delivery: z
    .array(z.enum(['poll', 'push', 'webhook']))
    .min(1)
    .optional(),
});

/** A descriptor's `events` section: how the provider signs its deliveries, and the event types they make. */
export const DescriptorEvents = z.strictObject({
  provider: z.enum(['github', 'stripe', 'slack', 'standard', 'jira', 'google_calendar']),
  types: z.array(DescriptorEventType).min(1).max(100),
});
export type DescriptorEvents = z.infer<typeof DescriptorEvents>;

const ConnectorDescriptorShape = z.looseObject({
  metadata: DescriptorMetadata,
  authentication: z.array(AuthenticationMethod).default([]),
  operations: z.array(Operation).min(1),
  capabilities: ConnectorCapabilities.optional(),
  rate_limits: z.array(RateLimit).default([]),
  sla: ConnectorSla.optional(),
  mcp_config: McpConfig.optional(),
  /** Event types its provider delivers to the inbound URL (MCP Events). */
  events: DescriptorEvents.optional(),
});

export const ConnectorDescriptor = ConnectorDescriptorShape;
export type ConnectorDescriptor = z.infer<typeof ConnectorDescriptor>;

export interface DocumentIssue {
  /** JSON pointer into the submitted document. */
  path: string;
  message: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issues: DocumentIssue[] };

function pointer(path: ReadonlyArray<PropertyKey>): string {
  return path.length === 0 ? '' : '/' + path.map((s) => String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

/**
 * zod's problems of a value, each with its path: an unknown key (refused by a strict object) is one problem per
 * key, at the key's own path, `unknown field` (zod reports them together, at the object's path).
 */
export function zodIssueList(error: z.ZodError): { path: PropertyKey[]; message: string }[] {
  return error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => ({ path: [...i.path, key], message: 'unknown field' }))
      : [{ path: i.path, message: i.message }],
  );
}

export function zodIssues(error: z.ZodError): DocumentIssue[] {
  return zodIssueList(error).map((i) => ({ path: pointer(i.path), message: i.message }));
}

const rec = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** What the shape of `capabilities` cannot say: each sync mode once (raw value; paths from the document's root). */
export function capabilitiesRuleIssues(capabilities: unknown): DocumentIssue[] {
  const modes = arr(rec(capabilities)?.sync_modes);
  return modes.flatMap((m, i) =>
    typeof m === 'string' && modes.indexOf(m) !== i
      ? [{ path: pointer(['capabilities', 'sync_modes', i]), message: `duplicate sync mode "${m}"` }]
      : [],
  );
}

type AddIssue = (path: PropertyKey[], message: string) => void;

/** Parameters of one operation: each (location, name) once, and one `path` parameter per endpoint placeholder. */
function operationParameterIssues(op: Record<string, unknown>, i: number, add: AddIssue): void {
  const params = arr(op.parameters).map(rec);
  const seen = new Set<string>();
  params.forEach((p, j) => {
    const key = `${str(p?.location)}:${str(p?.name)}`;
    if (seen.has(key))
      add(['operations', i, 'parameters', j, 'name'], `duplicate ${str(p?.location)} parameter "${str(p?.name)}"`);
    seen.add(key);
  });
  for (const m of (str(op.endpoint) ?? '').matchAll(/\{([^}]+)\}/g)) {
    const name = m[1] ?? '';
    if (!params.some((p) => str(p?.location) === 'path' && str(p?.name) === name)) {
      add(['operations', i, 'endpoint'], `path placeholder {${name}} has no parameter with location "path"`);
    }
  }
}

/** An operation's authentication: a known `auth_type_ref`, and `auth_headers` templates naming the method's fields. */
function operationAuthIssues(d: Record<string, unknown>, op: Record<string, unknown>, i: number, add: AddIssue): void {
  const authTypes = new Set(
    arr(d.authentication)
      .map((a) => str(rec(a)?.type))
      .filter(Boolean),
  );
  const ref = str(op.auth_type_ref);
  if (ref && !authTypes.has(ref)) add(['operations', i, 'auth_type_ref'], `no authentication method of type "${ref}"`);
  const templates = Object.values(rec(op.auth_headers) ?? {}).filter((t): t is string => typeof t === 'string');
  const method = arr(d.authentication)
    .map(rec)
    .find((a) => str(a?.type) === (ref ?? str(rec(arr(d.authentication)[0])?.type)));
  const fieldKeys = new Set(
    arr(method?.fields)
      .map((f) => str(rec(f)?.key))
      .filter(Boolean),
  );
  for (const t of templates) {
    for (const m of t.matchAll(/\{([^}]*)\}/g)) {
      if (!fieldKeys.has(m[1]))
        add(
          ['operations', i, 'auth_headers'],
          `template {${m[1]}} names no field of the "${str(method?.type) ?? '?'}" authentication method`,
        );
    }
  }
}

/** `operations`: unique operation_ids, then each operation's parameters and authentication. */
function operationsRuleIssues(d: Record<string, unknown>, ops: (Record<string, unknown> | undefined)[], add: AddIssue) {
  const opIds = new Set<string>();
  ops.forEach((op, i) => {
    const id = str(op?.operation_id);
    if (!op || !id) return;
    if (opIds.has(id)) add(['operations', i, 'operation_id'], `duplicate operation_id "${id}"`);
    opIds.add(id);
    operationParameterIssues(op, i, add);
    operationAuthIssues(d, op, i, add);
  });
}

/** `authentication`: the fields (and endpoints) each method type needs. */
function authenticationRuleIssues(d: Record<string, unknown>, add: AddIssue): void {
  arr(d.authentication).forEach((a, i) => {
    const m = rec(a);
    const keys = new Set(arr(m?.fields).map((f) => str(rec(f)?.key)));
    const need = (fields: string[]) => {
      for (const f of fields)
        if (!keys.has(f))
          add(['authentication', i, 'fields'], `a "${str(m?.type)}" method needs a field with key "${f}"`);
    };
    if (str(m?.type) === 'basic') need(['username', 'password']);
    if (str(m?.type) === 'oauth2_client_credentials') {
      need(['client_id', 'client_secret']);
      if (!str(m?.token_url))
        add(['authentication', i, 'token_url'], 'an "oauth2_client_credentials" method needs token_url');
    }
    if (str(m?.type) === 'oauth2_authorization_code') {
      need(['client_id', 'client_secret']);
      for (const url of ['authorization_url', 'token_url'])
        if (!str(m?.[url])) add(['authentication', i, url], `an "oauth2_authorization_code" method needs ${url}`);
    }
  });
}

interface ParameterMappingCheck {
  op: Record<string, unknown>;
  opId: string | undefined;
  mappings: Record<string, unknown>;
  i: number;
  add: AddIssue;
}

/** A route mapping's `parameter_mappings` against its operation: no two parameters renamed alike, no unknown names. */
function parameterMappingIssues({ op, opId, mappings, i, add }: ParameterMappingCheck): void {
  const paramNames = arr(op.parameters)
    .map((p) => str(rec(p)?.name))
    .filter((n): n is string => !!n);
  const finalNames = new Map<string, string>();
  for (const name of paramNames) {
    const to = str(mappings[name]) ?? name;
    const clash = finalNames.get(to);
    if (clash !== undefined && clash !== name) {
      add(
        ['mcp_config', 'route_mappings', i, 'parameter_mappings', name in mappings ? name : clash],
        `parameters "${clash}" and "${name}" would both be called "${to}"`,
      );
    }
    finalNames.set(to, name);
  }
  for (const from of Object.keys(mappings)) {
    if (!paramNames.includes(from))
      add(
        ['mcp_config', 'route_mappings', i, 'parameter_mappings', from],
        `operation "${opId}" has no parameter "${from}"`,
      );
  }
}

/** `mcp_config`: names required when enabled; route mappings to known operations, with unique tool names. */
function mcpConfigRuleIssues(
  mcp: Record<string, unknown>,
  ops: (Record<string, unknown> | undefined)[],
  add: AddIssue,
) {
  if (mcp.enabled === true && !str(mcp.server_name))
    add(['mcp_config', 'server_name'], 'server_name is required when enabled is true');
  if (mcp.enabled === true && !str(mcp.server_description))
    add(['mcp_config', 'server_description'], 'server_description is required when enabled is true');
  const toolNames = new Map<string, number>();
  arr(mcp.route_mappings).forEach((mv, i) => {
    const m = rec(mv);
    if (!m) return;
    const opId = str(m.operation_id);
    const op = ops.find((o) => str(o?.operation_id) === opId);
    if (opId !== undefined && !op)
      add(
        ['mcp_config', 'route_mappings', i, 'operation_id'],
        `operation_id "${opId}" does not match any operation in operations`,
      );
    const tool = str(m.mcp_tool_name);
    if (tool !== undefined) {
      const first = toolNames.get(tool);
      if (first !== undefined)
        add(
          ['mcp_config', 'route_mappings', i, 'mcp_tool_name'],
          `duplicate mcp_tool_name "${tool}" (first used at /mcp_config/route_mappings/${first})`,
        );
      else toolNames.set(tool, i);
    }
    const mappings = rec(m.parameter_mappings) ?? {};
    if (!op) return;
    parameterMappingIssues({ op, opId, mappings, i, add });
  });
}

/**
 * The seed's cross-field rules, checked on the raw document so that they are reported together with
 * shape errors (a document with a bad length AND an unknown operation_id lists both).
 */
function descriptorRuleIssues(raw: unknown): DocumentIssue[] {
  const issues: DocumentIssue[] = [];
  const add: AddIssue = (path, message) => issues.push({ path: pointer(path), message });
  const d = rec(raw);
  if (!d) return issues;
  const ops = arr(d.operations).map(rec);
  operationsRuleIssues(d, ops, add);
  authenticationRuleIssues(d, add);
  issues.push(...capabilitiesRuleIssues(d.capabilities));
  const mcp = rec(d.mcp_config);
  if (mcp) mcpConfigRuleIssues(mcp, ops, add);
  return issues;
}

/** Parses a descriptor and applies the seed's validation rules; all problems are returned together. */
export function parseConnectorDescriptor(raw: unknown): ParseResult<ConnectorDescriptor> {
  const shape = ConnectorDescriptor.safeParse(raw);
  const issues = [...(shape.success ? [] : zodIssues(shape.error)), ...descriptorRuleIssues(raw)];
  if (issues.length > 0 || !shape.success) return { ok: false, issues };
  return { ok: true, value: shape.data };
}
