import { isHttpUrl } from '@toolplane/contracts';
import { deref, isObject, type Json } from './json-pointer.ts';
import { personOAuthExtension, type PersonOAuth } from './security.ts';

/**
 * A connector's opt-in to people's own accounts (ADR 0028): its document's `oauth2` scheme with an
 * `authorizationCode` flow (or its `openIdConnect` scheme) is connected by each person with the workspace's OAuth
 * app, instead of taking a ready access token. Endpoints and scopes default to the document's (an `openIdConnect`
 * scheme's: its discovery document's); each can be given.
 */
export interface UserOAuthOptIn {
  /** The scheme, when the document has more than one a person can connect. */
  scheme?: string | undefined;
  authorization_url?: string | undefined;
  token_url?: string | undefined;
  refresh_url?: string | undefined;
  revocation_url?: string | undefined;
  /** Requested for every operation, instead of each operation's security requirement. */
  scopes?: string[] | undefined;
}

/** An OpenID Connect discovery document as read for the opt-in (`ok: false`: why it could not be). */
export type Discovery = { ok: true; document: Json } | { ok: false; error: string };

type Issue = { path: string; message: string };

/** The document's security schemes by name, `$ref`s followed. */
function schemesOf(doc: Json): Map<string, Json> {
  const components = isObject(doc.components) ? doc.components : {};
  const schemes = isObject(components.securitySchemes) ? components.securitySchemes : {};
  const out = new Map<string, Json>();
  for (const [name, raw] of Object.entries(schemes)) {
    const s = deref(doc, raw);
    if (isObject(s)) out.set(name, s);
  }
  return out;
}

/** The scheme the opt-in applies to, or why there is none. */
function choose(
  schemes: Map<string, Json>,
  optIn: UserOAuthOptIn,
  at: string,
): { name: string; scheme: Json } | { issue: Issue } {
  const eligible = [...schemes].filter(
    ([, s]) =>
      (s.type === 'oauth2' && isObject(s.flows) && isObject(s.flows.authorizationCode)) || s.type === 'openIdConnect',
  );
  const names = eligible.map(([n]) => `"${n}"`).join(', ');
  if (optIn.scheme !== undefined) {
    const s = schemes.get(optIn.scheme);
    if (!s)
      return {
        issue: {
          path: `${at}/scheme`,
          message: `the document has no security scheme "${optIn.scheme}"${eligible.length > 0 ? ` (a person can connect ${names})` : ''}`,
        },
      };
    if (!eligible.some(([n]) => n === optIn.scheme))
      return {
        issue: {
          path: `${at}/scheme`,
          message:
            `security scheme "${optIn.scheme}" (${String(s.type)}) is neither an oauth2 scheme with an ` +
            'authorizationCode flow nor an openIdConnect scheme',
        },
      };
    return { name: optIn.scheme, scheme: s };
  }
  if (eligible.length === 0)
    return {
      issue: {
        path: at,
        message:
          'the document has no oauth2 security scheme with an authorizationCode flow and no openIdConnect scheme: ' +
          'nothing for a person to connect',
      },
    };
  if (eligible.length > 1)
    return {
      issue: {
        path: `${at}/scheme`,
        message: `the document has ${eligible.length} schemes a person can connect (${names}): name one`,
      },
    };
  return { name: eligible[0]![0], scheme: eligible[0]![1] };
}

/**
 * The discovery document to read for the opt-in: the chosen scheme's `openIdConnectUrl` when it is an
 * `openIdConnect` scheme and the opt-in does not give both endpoints. Undefined otherwise.
 */
export function userOAuthDiscoveryUrl(doc: Json, optIn: UserOAuthOptIn): string | undefined {
  const chosen = choose(schemesOf(doc), optIn, '');
  if ('issue' in chosen || chosen.scheme.type !== 'openIdConnect') return undefined;
  if (optIn.authorization_url !== undefined && optIn.token_url !== undefined) return undefined;
  const url = chosen.scheme.openIdConnectUrl;
  return typeof url === 'string' && isHttpUrl(url) ? url : undefined;
}

/**
 * Applies the opt-in to an imported document (3.1, self-contained): the chosen scheme gets `x-toolplane-user-oauth`
 * with its endpoints, which `securityModel` compiles to the `oauth2_authorization_code` AuthPlan. Every scheme's
 * extension is removed first (a document cannot opt itself in); `optIn` undefined: nothing else changes.
 * `discovery`: the `openIdConnect` scheme's discovery document (`userOAuthDiscoveryUrl`), when it was read.
 * Returns every problem, with paths under `at` (the opt-in's place in the request): no scheme a person can connect,
 * an ambiguous or unknown `scheme`, an endpoint neither the document (or discovery document) nor the opt-in gives,
 * an endpoint that is not an absolute http(s) URL.
 */
export function applyUserOAuth(
  doc: Json,
  optIn: UserOAuthOptIn | undefined,
  discovery?: Discovery,
  at = '/user_oauth',
): Issue[] {
  const schemes = schemesOf(doc);
  for (const s of schemes.values()) delete s[personOAuthExtension];
  if (!optIn) return [];
  const chosen = choose(schemes, optIn, at);
  if ('issue' in chosen) return [chosen.issue];
  const { name, scheme: s } = chosen;
  const oidc = s.type === 'openIdConnect';
  const flow = !oidc && isObject(s.flows) && isObject(s.flows.authorizationCode) ? s.flows.authorizationCode : {};
  const source = oidc ? (discovery?.ok ? discovery.document : {}) : flow;
  const discoveryUrl = typeof s.openIdConnectUrl === 'string' ? s.openIdConnectUrl : undefined;
  const issues: Issue[] = [];
  /** Why an `openIdConnect` scheme's endpoint is not known. */
  const oidcWhy = (docKey: string): string =>
    discovery === undefined
      ? `its discovery document${discoveryUrl ? `, ${discoveryUrl},` : ''} was not read`
      : discovery.ok
        ? `its discovery document ${discoveryUrl ?? ''} names no ${docKey}`
        : `its discovery document ${discoveryUrl ?? ''} could not be read (${discovery.error})`;
  const endpoint = (field: keyof UserOAuthOptIn, docKey: string | undefined, required: boolean): string | undefined => {
    const given = optIn[field] as string | undefined;
    const found = docKey !== undefined && typeof source[docKey] === 'string' ? source[docKey] : undefined;
    const url = given ?? found;
    if (url === undefined) {
      if (required)
        issues.push({
          path: `${at}/${field}`,
          message: oidc
            ? `the openIdConnect scheme "${name}" has no ${field.replace('_url', '')} endpoint: ${oidcWhy(docKey!)}; give ${field}`
            : `the authorizationCode flow of "${name}" has no ${docKey}: give ${field}`,
        });
      return undefined;
    }
    if (!isHttpUrl(url)) {
      issues.push({
        path: `${at}/${field}`,
        message:
          given !== undefined
            ? `"${url}" is not an absolute http(s) URL`
            : `the ${oidc ? 'discovery document' : 'flow'}'s ${docKey} "${url}" is not an absolute http(s) URL: give ${field}`,
      });
      return undefined;
    }
    return url;
  };
  const authorizationUrl = endpoint('authorization_url', oidc ? 'authorization_endpoint' : 'authorizationUrl', true);
  const tokenUrl = endpoint('token_url', oidc ? 'token_endpoint' : 'tokenUrl', true);
  const refreshUrl = endpoint('refresh_url', oidc ? undefined : 'refreshUrl', false);
  const revocationUrl = endpoint('revocation_url', oidc ? 'revocation_endpoint' : undefined, false);
  if (issues.length > 0 || authorizationUrl === undefined || tokenUrl === undefined) return issues;
  const person: PersonOAuth = {
    authorizationUrl,
    tokenUrl,
    ...(refreshUrl !== undefined ? { refreshUrl } : {}),
    ...(revocationUrl !== undefined ? { revocationUrl } : {}),
    ...(optIn.scopes !== undefined && optIn.scopes.length > 0 ? { scopes: optIn.scopes } : {}),
  };
  s[personOAuthExtension] = person;
  return [];
}
