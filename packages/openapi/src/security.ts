import { isHttpUrl, type AuthPlan } from '@toolplane/contracts';
import { deref, isObject, type Json } from './json-pointer.ts';

/** How one security scheme of the document is satisfied: the credential fields it needs and where they go. */
interface SchemeCredentials {
  scheme: string;
  fields: { key: string; secret: boolean }[];
  /** apiKey schemes: `{field}` templates by header, query parameter or cookie name. */
  headers?: Record<string, string>;
  query?: Record<string, string>;
  cookies?: Record<string, string>;
  /** Computed credentials (scopes are filled per operation for OAuth2). */
  auth?: AuthPlan;
  /** The scheme names its field keys (`x-toolplane-credential-fields`). */
  explicit: boolean;
}

export interface SecurityModel {
  schemes: Map<string, SchemeCredentials>;
  /** Unsupported schemes, with the reason (also reported as import warnings). */
  unsupported: Map<string, string>;
  /**
   * Problems that refuse the document at import: an endpoint of a flow run for people (a scheme naming its app's
   * fields) that is not an absolute http(s) URL. Such a scheme is also unsupported: no plan ever carries the URL.
   */
  refused: { path: string; message: string }[];
}

/**
 * `x-toolplane-user-oauth` on an `oauth2` or `openIdConnect` scheme: the endpoints (and fixed scopes) of a person's
 * own account, written at import when the connector opts in (`applyUserOAuth`). Undefined without both endpoints.
 */
export interface PersonOAuth {
  authorizationUrl: string;
  tokenUrl: string;
  refreshUrl?: string;
  revocationUrl?: string;
  /** Requested for every operation instead of the operation's own requirement. */
  scopes?: string[];
}

export const personOAuthExtension = 'x-toolplane-user-oauth';

function personOAuthOf(s: Json): PersonOAuth | undefined {
  const p = s[personOAuthExtension];
  if (!isObject(p) || typeof p.authorizationUrl !== 'string' || typeof p.tokenUrl !== 'string') return undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const refreshUrl = str(p.refreshUrl);
  const revocationUrl = str(p.revocationUrl);
  const scopes = Array.isArray(p.scopes) ? p.scopes.filter((x): x is string => typeof x === 'string') : undefined;
  return {
    authorizationUrl: p.authorizationUrl,
    tokenUrl: p.tokenUrl,
    ...(refreshUrl !== undefined ? { refreshUrl } : {}),
    ...(revocationUrl !== undefined ? { revocationUrl } : {}),
    ...(scopes !== undefined ? { scopes } : {}),
  };
}

/** A template field key the worker can fill (`{key}`): `[A-Za-z_][A-Za-z0-9_]*`, never the reserved `__` prefix. */
function fieldKey(text: string): string {
  let k = text.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (!k) k = 'credential';
  if (/^[0-9]/.test(k)) k = `_${k}`;
  return k;
}

type SchemeKind = 'user_oauth' | 'apiKey' | 'bearer' | 'basic' | 'oauth2' | 'oauth2_authorization_code';

/** A credential field a scheme needs: its role, the key used unless the scheme names one, and whether it is secret. */
type FieldRole = [role: string, fallback: string, secret: boolean];

/** How the document's scheme is handled: its kind and fields, and/or why it is unsupported (or refused). */
interface SchemeClass {
  kind?: SchemeKind;
  roles?: FieldRole[];
  unsupported?: string;
  refused?: SecurityModel['refused'];
}

interface FieldProposal {
  scheme: string;
  role: string;
  key: string;
  secret: boolean;
  explicit: boolean;
}

type OwnFields = Record<string, string>;

/** A connector opted in (`user_oauth`, ADR 0028): each person connects their own account with the workspace's OAuth app. */
function userOAuthClass(own: OwnFields): SchemeClass {
  // The instance's `client_id`/`client_secret`, as a descriptor's `oauth2_authorization_code`.
  return {
    kind: 'user_oauth',
    roles: [
      ['client_id', own.client_id ?? 'client_id', false],
      ['client_secret', own.client_secret ?? 'client_secret', true],
    ],
  };
}

function apiKeyClass(name: string, s: Json): SchemeClass {
  if (typeof s.name !== 'string' || !['header', 'query', 'cookie'].includes(String(s.in))) {
    return { unsupported: 'an apiKey scheme needs `name` and `in` (header, query or cookie)' };
  }
  return { kind: 'apiKey', roles: [['value', fieldKey(name), true]] };
}

function hasClientCredentialsFlow(s: Json): boolean {
  return (
    isObject(s.flows) && isObject(s.flows.clientCredentials) && typeof s.flows.clientCredentials.tokenUrl === 'string'
  );
}

function hasAuthorizationCodeFlow(s: Json, own: OwnFields): boolean {
  return (
    isObject(s.flows) &&
    isObject(s.flows.authorizationCode) &&
    typeof s.flows.authorizationCode.authorizationUrl === 'string' &&
    typeof s.flows.authorizationCode.tokenUrl === 'string' &&
    own.client_id !== undefined
  );
}

/**
 * People's own accounts (ADR 0027): for now only where the scheme names its app's fields (connector descriptors'
 * `oauth2_authorization_code`); other documents' authorization-code flows take a ready token (`readyTokenClass`).
 * The browser is sent to its authorizationUrl and the workers post to the others: http(s) only (`HttpUrl`).
 */
function authorizationCodeClass(name: string, s: Json, own: OwnFields): SchemeClass {
  const at = `/components/securitySchemes/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
  const flow = (s.flows as Json).authorizationCode as Json;
  const endpoints: [string, unknown][] = [
    [`${at}/flows/authorizationCode/authorizationUrl`, flow.authorizationUrl],
    [`${at}/flows/authorizationCode/tokenUrl`, flow.tokenUrl],
    [`${at}/flows/authorizationCode/refreshUrl`, flow.refreshUrl],
    [`${at}/x-toolplane-revocation-url`, s['x-toolplane-revocation-url']],
  ];
  const bad = endpoints.filter(([, url]) => url !== undefined && !(typeof url === 'string' && isHttpUrl(url)));
  if (bad.length > 0) {
    return {
      refused: bad.map(([path]) => ({ path, message: 'must be an http(s) URL' })),
      unsupported: 'an endpoint of its authorizationCode flow is not an http(s) URL',
    };
  }
  return {
    kind: 'oauth2_authorization_code',
    roles: [
      ['client_id', own.client_id!, false],
      ['client_secret', own.client_secret ?? 'client_secret', true],
    ],
  };
}

/** OAuth2 flows the platform does not run, and OpenID Connect: a ready access token, sent as Bearer (with a warning). */
function readyTokenClass(name: string, type: string, own: OwnFields): SchemeClass {
  return {
    kind: 'bearer',
    roles: [['token', fieldKey(name), true]],
    unsupported:
      `${type} ${type === 'oauth2' ? 'flows other than clientCredentials are' : 'is'} not run by the platform: ` +
      `field "${own.token ?? fieldKey(name)}" takes a ready access token (sent as Bearer)`,
  };
}

/** Sorts one security scheme (an object) into the kind of credentials it takes. */
function classifyScheme(name: string, s: Json, own: OwnFields): SchemeClass {
  const type = typeof s.type === 'string' ? s.type : '';
  const httpScheme = typeof s.scheme === 'string' ? s.scheme.toLowerCase() : '';
  if ((type === 'oauth2' || type === 'openIdConnect') && personOAuthOf(s)) return userOAuthClass(own);
  if (type === 'apiKey') return apiKeyClass(name, s);
  if (type === 'http' && httpScheme === 'bearer') return { kind: 'bearer', roles: [['token', fieldKey(name), true]] };
  if (type === 'http' && httpScheme === 'basic') {
    return {
      kind: 'basic',
      roles: [
        ['username', 'username', false],
        ['password', 'password', true],
      ],
    };
  }
  if (type === 'oauth2' && hasClientCredentialsFlow(s)) {
    return {
      kind: 'oauth2',
      roles: [
        ['client_id', 'client_id', false],
        ['client_secret', 'client_secret', true],
      ],
    };
  }
  if (type === 'oauth2' && hasAuthorizationCodeFlow(s, own)) return authorizationCodeClass(name, s, own);
  if (type === 'oauth2' || type === 'openIdConnect') return readyTokenClass(name, type, own);
  return {
    unsupported:
      `security scheme type ${JSON.stringify(type)}${httpScheme ? ` (${httpScheme})` : ''} is not supported; ` +
      'operations requiring only it are called without credentials',
  };
}

/** Field keys shared by two schemes are prefixed with the scheme name (deterministic, order-free). */
function assignFieldKeys(proposals: FieldProposal[]): void {
  const byKey = new Map<string, Set<string>>();
  for (const p of proposals) {
    const key = fieldKey(p.key);
    p.key = key;
    (byKey.get(key) ?? byKey.set(key, new Set()).get(key)!).add(p.scheme);
  }
  for (const p of proposals) if (!p.explicit && byKey.get(p.key)!.size > 1) p.key = fieldKey(`${p.scheme}_${p.key}`);
}

type RoleKey = (role: string) => string;

function userOAuthPlan(s: Json, key: RoleKey): AuthPlan {
  const p = personOAuthOf(s)!;
  return {
    kind: 'oauth2_authorization_code',
    authorizeUrl: p.authorizationUrl,
    tokenUrl: p.tokenUrl,
    ...(p.refreshUrl !== undefined ? { refreshUrl: p.refreshUrl } : {}),
    ...(p.revocationUrl !== undefined ? { revocationUrl: p.revocationUrl } : {}),
    scopes: p.scopes ?? [],
    clientId: key('client_id'),
    clientSecret: key('client_secret'),
  };
}

function authorizationCodePlan(s: Json, key: RoleKey): AuthPlan {
  const flow = (s.flows as Json).authorizationCode as Json;
  const revocation = s['x-toolplane-revocation-url'];
  return {
    kind: 'oauth2_authorization_code',
    authorizeUrl: flow.authorizationUrl as string,
    tokenUrl: flow.tokenUrl as string,
    ...(typeof revocation === 'string' ? { revocationUrl: revocation } : {}),
    scopes: [],
    clientId: key('client_id'),
    clientSecret: key('client_secret'),
  };
}

function clientCredentialsPlan(s: Json, key: RoleKey): AuthPlan {
  const flow = (s.flows as Json).clientCredentials as Json;
  return {
    kind: 'oauth2_client_credentials',
    tokenUrl: flow.tokenUrl as string,
    scopes: [],
    clientId: key('client_id'),
    clientSecret: key('client_secret'),
  };
}

/** The credentials of one supported scheme, from its kind and its (final) field keys. */
function schemeCredentials(name: string, kind: SchemeKind, s: Json, proposals: FieldProposal[]): SchemeCredentials {
  const mine = proposals.filter((p) => p.scheme === name);
  const key: RoleKey = (role) => mine.find((p) => p.role === role)!.key;
  const creds: SchemeCredentials = {
    scheme: name,
    fields: mine.map((p) => ({ key: p.key, secret: p.secret })),
    explicit: mine.some((p) => p.explicit),
  };
  if (kind === 'apiKey') {
    const where = s.in === 'header' ? 'headers' : s.in === 'query' ? 'query' : 'cookies';
    creds[where] = { [s.name as string]: `{${key('value')}}` };
  } else if (kind === 'bearer') {
    creds.auth = { kind: 'bearer', token: key('token') };
  } else if (kind === 'basic') {
    creds.auth = { kind: 'basic', username: key('username'), password: key('password') };
  } else if (kind === 'user_oauth') {
    creds.auth = userOAuthPlan(s, key);
  } else if (kind === 'oauth2_authorization_code') {
    creds.auth = authorizationCodePlan(s, key);
  } else {
    creds.auth = clientCredentialsPlan(s, key);
  }
  return creds;
}

/**
 * Credential fields for the security schemes of a document. apiKey and HTTP bearer schemes use a field
 * named after the scheme (sanitised to an identifier); HTTP basic uses `username`/`password` and OAuth2 client credentials `client_id`/`client_secret`, prefixed
 * with the scheme name when two schemes would share a key. OAuth2 flows other than client credentials and
 * OpenID Connect take a ready access token (bearer) with a warning, unless the connector opted in to people's own
 * accounts (`x-toolplane-user-oauth`, set by `applyUserOAuth`); mutualTLS and other HTTP schemes are unsupported.
 *
 * A scheme may carry `x-toolplane-credential-fields` (role → field key), which descriptor-generated
 * documents use to keep the descriptor's field names.
 */
export function securityModel(doc: Json): SecurityModel {
  const components = isObject(doc.components) ? doc.components : {};
  const defined = isObject(components.securitySchemes) ? components.securitySchemes : {};
  const schemes = new Map<string, SchemeCredentials>();
  const unsupported = new Map<string, string>();
  const refused: SecurityModel['refused'] = [];
  const proposals: FieldProposal[] = [];
  const kinds = new Map<string, { kind: SchemeKind; s: Json }>();

  for (const name of Object.keys(defined)) {
    const s = deref(doc, defined[name]);
    if (!isObject(s)) {
      unsupported.set(name, 'the security scheme is not an object');
      continue;
    }
    const own = isObject(s['x-toolplane-credential-fields']) ? (s['x-toolplane-credential-fields'] as OwnFields) : {};
    const c = classifyScheme(name, s, own);
    if (c.refused) refused.push(...c.refused);
    for (const [role, fallback, secret] of c.roles ?? []) {
      proposals.push({ scheme: name, role, key: own[role] ?? fallback, secret, explicit: own[role] !== undefined });
    }
    if (c.kind) kinds.set(name, { kind: c.kind, s });
    if (c.unsupported !== undefined) unsupported.set(name, c.unsupported);
  }

  assignFieldKeys(proposals);
  for (const [name, { kind, s }] of kinds) schemes.set(name, schemeCredentials(name, kind, s, proposals));
  return { schemes, unsupported, refused };
}

export interface OperationSecurity {
  schemes: { creds: SchemeCredentials; scopes: string[] }[];
  /** The document allows calling without credentials (`{}` among the alternatives) or requires none. */
  optional: boolean;
  /** A reason when none of the alternatives can be satisfied. */
  problem?: string;
}

/**
 * The security requirement the worker satisfies for an operation: the first alternative (of
 * `operation.security`, else the document's) whose schemes are all supported.
 */
export function operationSecurity(doc: Json, op: Json, model: SecurityModel): OperationSecurity {
  const reqs = Array.isArray(op.security) ? op.security : Array.isArray(doc.security) ? doc.security : [];
  if (reqs.length === 0) return { schemes: [], optional: true };
  const optional = reqs.some((r) => isObject(r) && Object.keys(r).length === 0);
  for (const r of reqs) {
    if (!isObject(r) || Object.keys(r).length === 0) continue;
    const names = Object.keys(r);
    if (names.every((n) => model.schemes.has(n))) {
      return {
        optional,
        schemes: names.map((n) => ({
          creds: model.schemes.get(n)!,
          scopes: Array.isArray(r[n]) ? (r[n] as unknown[]).filter((x): x is string => typeof x === 'string') : [],
        })),
      };
    }
  }
  if (optional) return { schemes: [], optional };
  const names = reqs.flatMap((r) => (isObject(r) ? Object.keys(r) : []));
  const missing = names.filter((n) => !model.schemes.has(n));
  return {
    schemes: [],
    optional: false,
    problem: `no supported security scheme among ${JSON.stringify([...new Set(missing.length > 0 ? missing : names)])}`,
  };
}
