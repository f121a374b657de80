import type { ConnectorDescriptor, OperationParameter } from '@toolplane/contracts';
import { rebaseUrl } from './http-tools.ts';

type Json = Record<string, unknown>;

const schemaTypes: Record<OperationParameter['field_type'], Json> = {
  string: { type: 'string' },
  secret: { type: 'string', format: 'password' },
  integer: { type: 'integer' },
  number: { type: 'number' },
  boolean: { type: 'boolean' },
  array: { type: 'array', items: {} },
  object: { type: 'object' },
};

function paramSchema(p: OperationParameter): Json {
  return { ...schemaTypes[p.field_type], ...(p.default_value !== undefined ? { default: p.default_value } : {}) };
}

function splitEndpoint(endpoint: string): { origin: string; path: string } {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/]*)(.*)$/i.exec(endpoint);
  return m ? { origin: m[1]!, path: m[2] || '/' } : { origin: '', path: endpoint };
}

/**
 * How an authentication method of the descriptor appears as an OpenAPI security scheme. Header
 * templates that are exactly `{field}` become `apiKey` schemes; `Bearer {field}` an HTTP bearer
 * scheme; the `basic`, `oauth2_client_credentials` and `oauth2_authorization_code` types their standard schemes.
 */
function securitySchemeFor(descriptor: ConnectorDescriptor, authType: string): Json | undefined {
  const auth = descriptor.authentication.find((a) => a.type === authType);
  if (!auth) return undefined;
  // `x-toolplane-credential-fields`: the descriptor's field keys for the built-in methods (what the worker computes from).
  if (authType === 'basic')
    return {
      type: 'http',
      scheme: 'basic',
      'x-toolplane-credential-fields': { username: 'username', password: 'password' },
    };
  if (authType === 'bearer') {
    const token = auth.fields.find((f) => f.secret)?.key ?? auth.fields[0]?.key;
    return { type: 'http', scheme: 'bearer', ...(token ? { 'x-toolplane-credential-fields': { token } } : {}) };
  }
  if (authType === 'oauth2_client_credentials') {
    const tokenUrl = (auth as Json).token_url;
    const scopes = Object.fromEntries((auth.scopes ?? []).map((s) => [s, s]));
    return {
      type: 'oauth2',
      flows: {
        clientCredentials: {
          tokenUrl: typeof tokenUrl === 'string' ? tokenUrl : 'https://example.invalid/oauth/token',
          scopes,
        },
      },
      ...(typeof tokenUrl === 'string'
        ? { 'x-toolplane-credential-fields': { client_id: 'client_id', client_secret: 'client_secret' } }
        : {}),
    };
  }
  if (authType === 'oauth2_authorization_code') {
    const m = auth as Json;
    const url = (key: string, fallback: string) => (typeof m[key] === 'string' ? (m[key] as string) : fallback);
    return {
      type: 'oauth2',
      flows: {
        authorizationCode: {
          authorizationUrl: url('authorization_url', 'https://example.invalid/oauth/authorize'),
          tokenUrl: url('token_url', 'https://example.invalid/oauth/token'),
          scopes: Object.fromEntries((auth.scopes ?? []).map((s) => [s, s])),
        },
      },
      ...(typeof m.revocation_url === 'string' ? { 'x-toolplane-revocation-url': m.revocation_url } : {}),
      'x-toolplane-credential-fields': { client_id: 'client_id', client_secret: 'client_secret' },
    };
  }
  for (const op of descriptor.operations) {
    if (op.auth_type_ref !== authType) continue;
    for (const [header, template] of Object.entries(op.auth_headers)) {
      if (/^\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(template)) return { type: 'apiKey', in: 'header', name: header };
      if (/^Bearer \{[A-Za-z_][A-Za-z0-9_]*\}$/i.test(template)) return { type: 'http', scheme: 'bearer' };
    }
  }
  return { type: 'apiKey', in: 'header', name: 'Authorization' };
}

/**
 * The OpenAPI 3.1 document of a connector descriptor ("the platform generates an OpenAPI
 * spec from the descriptor"). Every operation is included (route mappings select tools later);
 * `x-toolplane-*` extensions keep what OpenAPI cannot say (auth header templates).
 */
/** A descriptor operation's own settings as the OpenAPI extensions the import reads. */
function operationExtensions(op: ConnectorDescriptor['operations'][number]): Record<string, unknown> {
  return {
    ...(Object.keys(op.auth_headers).length > 0 ? { 'x-toolplane-auth-headers': op.auth_headers } : {}),
    ...(op.idempotent !== undefined ? { 'x-idempotent': op.idempotent } : {}),
    ...(op.cost !== undefined ? { 'x-toolplane-cost': op.cost } : {}),
    ...(op.idempotency_key_header ? { 'x-idempotency-key': op.idempotency_key_header } : {}),
  };
}

export function descriptorToOpenApi(
  descriptor: ConnectorDescriptor,
  opts: { baseUrl?: string | undefined } = {},
): Json {
  const paths: Record<string, Record<string, Json>> = {};
  const origins = new Set<string>();
  const opOrigins = new Map<Json, string>();
  const securitySchemes: Record<string, Json> = {};
  for (const op of descriptor.operations) {
    const { origin, path } = splitEndpoint(rebaseUrl(op.endpoint, opts.baseUrl));
    if (origin) origins.add(origin);
    const parameters = op.parameters
      .filter((p) => p.location !== 'body')
      .map((p) => ({
        name: p.name,
        in: p.location,
        required: p.location === 'path' ? true : p.required,
        ...(p.description ? { description: p.description } : {}),
        schema: paramSchema(p),
      }));
    const bodyParams = op.parameters.filter((p) => p.location === 'body');
    const operation: Json = {
      operationId: op.operation_id,
      ...(op.summary ? { summary: op.summary } : {}),
      ...(op.description ? { description: op.description } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      responses: { default: { description: 'The upstream response' } },
    };
    if (bodyParams.length > 0) {
      const required = bodyParams.filter((p) => p.required).map((p) => p.name);
      operation.requestBody = {
        required: required.length > 0,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              properties: Object.fromEntries(
                bodyParams.map((p) => [
                  p.name,
                  { ...paramSchema(p), ...(p.description ? { description: p.description } : {}) },
                ]),
              ),
              ...(required.length > 0 ? { required } : {}),
            },
          },
        },
      };
    }
    const authType = op.auth_type_ref ?? descriptor.authentication[0]?.type;
    if (authType) {
      const scheme = securitySchemeFor(descriptor, authType);
      if (scheme) {
        securitySchemes[authType] = scheme;
        operation.security = [
          {
            [authType]:
              authType === 'oauth2_client_credentials' || authType === 'oauth2_authorization_code'
                ? (descriptor.authentication.find((a) => a.type === authType)?.scopes ?? [])
                : [],
          },
        ];
      }
    }
    Object.assign(operation, operationExtensions(op));
    opOrigins.set(operation, origin);
    (paths[path] ??= {})[op.method.toLowerCase()] = operation;
  }
  // Several origins: each operation names its own server (the document-level list alone would be ambiguous).
  if (origins.size > 1) for (const [operation, origin] of opOrigins) operation.servers = [{ url: origin }];
  const meta = descriptor.metadata;
  return {
    openapi: '3.1.0',
    info: {
      title: meta.name,
      version: meta.version,
      ...(meta.description ? { description: meta.description } : {}),
      ...(meta.publisher ? { contact: { name: meta.publisher } } : {}),
    },
    servers: [...origins].map((url) => ({ url })),
    paths,
    ...(Object.keys(securitySchemes).length > 0 ? { components: { securitySchemes } } : {}),
    'x-toolplane-connector': {
      slug: meta.slug,
      ...(descriptor.mcp_config ? { mcp_config: descriptor.mcp_config } : {}),
    },
  };
}
