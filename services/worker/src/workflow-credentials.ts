import { AuthPlan, type WorkflowPlan } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import { type CredentialsIR, credentialsRefusal, HttpTransportError } from '@toolplane/workflow';
import type { Authorizer } from './auth.ts';
import { oauthAppOf, workflowPersonAuths, type OAuthApp, type PersonAuth } from './connect-links.ts';
import type { SecretResolver } from './secret-resolver.ts';

/**
 * Credentials of Arazzo steps calling an operation of a source bound to a connector instance
 * (`toolplane:connectors/…`): the step carries the operation's templates (`{field}`), the plan the
 * secret name of each of the instance's fields; the values are read here, added to the request after
 * the engine built it (the engine, its trace and the execution record never see them) and reported
 * through `onValue` so that every output is scrubbed of them. For an external user (`x-username`) the
 * user's own connection to the instance is used, never the shared one unless the server's config says
 * `fallbackToShared` (as for the connector's tools).
 *
 * An operation whose scheme is a person's own account (`oauth2_authorization_code`, ADR 0027) is sent with the
 * calling person's token (`personToken`: the worker's UserTokenKeeper, refreshed before expiry; `stale` names a
 * token the upstream just refused, to refresh once); the instance's credentials are the OAuth app, never the
 * token. A person without a connection gets the same `connection.required` error, with a link, as a plain tool.
 *
 * They go only to the origin the compiler bound them to (the instance's base URL's, `CredentialsIR.origin`; issue
 * #47): for a request to any other origin, or one setting its own `Host`, nothing is read or added and the step fails
 * (`upstream_blocked`, naming both origins) before anything is sent. Steps compiled before origins were bound carry
 * none and are refused the same way until the workflow is deployed again.
 */

/** The calling person's token for a connector instance (processor.ts binds it to the call: user, tool, links). */
export type PersonTokenSource = (request: {
  instanceId: string;
  auth: PersonAuth;
  app: () => Promise<OAuthApp>;
  stale?: string | undefined;
}) => Promise<{ token: string; client: OAuthApp }>;

export interface ConnectorUser {
  id: string;
  name: string;
  /** Whether the server falls back to the shared credentials when the user has none. */
  fallbackToShared: () => Promise<boolean>;
}

export interface CredentialAdditions {
  headers: Record<string, string>;
  /** Query parameters to append (name, value). */
  query: [string, string][];
  /** `name=value` cookie pairs. */
  cookies: string[];
  /** A person's own account: the token sent (refreshed once when the upstream answers 401). */
  person?: { token: string };
}

const field = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

function fill(template: string, values: Record<string, string | undefined>): string {
  return template.replace(field, (whole, key: string) => values[key] ?? whole);
}

/** The credential fields an operation's templates and computed authorization read. */
function fieldsOf(c: CredentialsIR): string[] {
  const out = new Set<string>();
  for (const t of [
    ...Object.values(c.headers ?? {}),
    ...Object.values(c.query ?? {}),
    ...Object.values(c.cookies ?? {}),
  ])
    for (const m of t.matchAll(field)) if (m[1] !== '__authorization') out.add(m[1]!);
  if (c.auth?.kind !== 'oauth2_authorization_code')
    for (const [k, v] of Object.entries(c.auth ?? {}))
      if (k !== 'kind' && k !== 'tokenUrl' && k !== 'scopes' && typeof v === 'string') out.add(v);
  return [...out];
}

export function connectorCredentials(
  plan: Pick<WorkflowPlan, 'connectors' | 'ir'>,
  deps: { secrets: SecretResolver; authorizer?: Authorizer | undefined; personToken?: PersonTokenSource | undefined },
  user: ConnectorUser | undefined,
  onValue: (value: string) => void,
): (
  credentials: CredentialsIR & { source: string },
  request: { url: string; headers: Readonly<Record<string, string>> },
  stale?: string,
) => Promise<CredentialAdditions> {
  let personAuths: Map<string, PersonAuth> | undefined;
  return async (c, request, stale) => {
    // Before any value is read: the request must go where the credentials are bound (throws: nothing is sent).
    const refusal = credentialsRefusal(request, c);
    if (refusal !== undefined) throw new HttpTransportError('blocked', refusal);
    const bound = plan.connectors?.[c.source];
    if (!bound)
      throw new UserError(
        'secret.not_found',
        `the connector instance of source "${c.source}" is gone; deploy the workflow again with an existing instance`,
      );
    const fields = fieldsOf(c);
    let values: Record<string, string | undefined> = {};
    let person: CredentialAdditions['person'];
    if (c.auth?.kind === 'oauth2_authorization_code') {
      if (!deps.personToken) throw new Error('people’s OAuth connections are not configured in this worker');
      // The scopes of every step of the workflow on this source: one connect link covers them all.
      const auth = (personAuths ??= workflowPersonAuths(plan)).get(c.source) ?? (c.auth as PersonAuth);
      const { token, client } = await deps.personToken({
        instanceId: bound.instanceId,
        auth,
        app: () => oauthAppOf(deps.secrets, bound, auth),
        stale,
      });
      onValue(token);
      onValue(client.clientSecret);
      person = { token };
    }
    const read = async (names: Record<string, string>, fresh: boolean) => {
      const out: Record<string, string | undefined> = {};
      for (const f of fields) out[f] = names[f] ? await deps.secrets.resolve(names[f], { fresh }) : undefined;
      return out;
    };
    if (fields.length === 0) {
      // Nothing but the person's token (or no credentials at all).
    } else if (user) {
      const own = Object.fromEntries(
        Object.entries(bound.userSecrets ?? {}).map(([f, name]) => [f, name.replace('{user}', user.id)]),
      );
      values = await read(own, true);
      if (fields.some((f) => values[f] === undefined)) {
        if (!(await user.fallbackToShared()))
          throw new UserError(
            'secret.not_found',
            `User "${user.name}" has no connection for the connector of source "${c.source}". ` +
              `Connect one with PUT /api/v1/external_users/{name}/connections/${bound.instanceId}.`,
          );
        values = await read(bound.secrets, false);
      }
    } else {
      values = await read(bound.secrets, false);
    }
    const missing = fields.filter((f) => values[f] === undefined);
    if (missing.length > 0)
      throw new UserError(
        'secret.not_found',
        `the connector instance of source "${c.source}" has no ${missing.map((m) => `"${m}"`).join(', ')} credential ` +
          `(set it with PATCH /api/v1/connector_instances/${bound.instanceId})`,
      );
    for (const v of Object.values(values)) if (v !== undefined) onValue(v);
    if (person) values.__authorization = `Bearer ${person.token}`;
    else if (c.auth) {
      if (!deps.authorizer) throw new UserError('secret.not_found', 'computed credentials are not available here');
      values.__authorization = await deps.authorizer.authorization(AuthPlan.parse(c.auth), values);
      onValue(values.__authorization);
    }
    return {
      headers: Object.fromEntries(Object.entries(c.headers ?? {}).map(([k, t]) => [k.toLowerCase(), fill(t, values)])),
      query: Object.entries(c.query ?? {}).map(([k, t]) => [k, fill(t, values)]),
      cookies: Object.entries(c.cookies ?? {}).map(([k, t]) => `${k}=${encodeURIComponent(fill(t, values))}`),
      ...(person ? { person } : {}),
    };
  };
}

/** The request with the credentials added: a header the step sets itself is kept, query parameters appended, cookies joined. */
export function withCredentials<T extends { url: string; headers: Record<string, string> }>(
  request: T,
  add: CredentialAdditions,
): T {
  const headers = { ...request.headers };
  for (const [k, v] of Object.entries(add.headers)) headers[k] ??= v;
  if (add.cookies.length > 0) headers.cookie = [headers.cookie, ...add.cookies].filter(Boolean).join('; ');
  let url = request.url;
  if (add.query.length > 0) {
    const qs = add.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    url += (url.includes('?') ? '&' : '?') + qs;
  }
  return { ...request, url, headers };
}
