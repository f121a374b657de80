import { AuthPlan, type WorkflowPlan } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import type { CredentialsIR } from '@toolplane/workflow';
import type { Authorizer } from './auth.ts';
import type { SecretResolver } from './secret-resolver.ts';

/**
 * Credentials of Arazzo steps calling an operation of a source bound to a connector instance
 * (`toolplane:connectors/…`): the step carries the operation's templates (`{field}`), the plan the
 * secret name of each of the instance's fields; the values are read here, added to the request after
 * the engine built it (the engine, its trace and the execution record never see them) and reported
 * through `onValue` so that every output is scrubbed of them. For an external user (`x-username`) the
 * user's own connection to the instance is used, never the shared one unless the server's config says
 * `fallbackToShared` (as for the connector's tools).
 */

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
  for (const [k, v] of Object.entries(c.auth ?? {}))
    if (k !== 'kind' && k !== 'tokenUrl' && k !== 'scopes' && typeof v === 'string') out.add(v);
  return [...out];
}

export function connectorCredentials(
  plan: Pick<WorkflowPlan, 'connectors'>,
  deps: { secrets: SecretResolver; authorizer?: Authorizer },
  user: ConnectorUser | undefined,
  onValue: (value: string) => void,
): (credentials: CredentialsIR & { source: string }) => Promise<CredentialAdditions> {
  return async (c) => {
    const bound = plan.connectors?.[c.source];
    if (!bound)
      throw new UserError(
        'secret.not_found',
        `the connector instance of source "${c.source}" is gone; deploy the workflow again with an existing instance`,
      );
    const fields = fieldsOf(c);
    let values: Record<string, string | undefined> = {};
    const read = async (names: Record<string, string>, fresh: boolean) => {
      const out: Record<string, string | undefined> = {};
      for (const f of fields) out[f] = names[f] ? await deps.secrets.resolve(names[f], { fresh }) : undefined;
      return out;
    };
    if (user) {
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
    if (c.auth) {
      if (!deps.authorizer) throw new UserError('secret.not_found', 'computed credentials are not available here');
      values.__authorization = await deps.authorizer.authorization(AuthPlan.parse(c.auth), values);
      onValue(values.__authorization);
    }
    return {
      headers: Object.fromEntries(Object.entries(c.headers ?? {}).map(([k, t]) => [k.toLowerCase(), fill(t, values)])),
      query: Object.entries(c.query ?? {}).map(([k, t]) => [k, fill(t, values)]),
      cookies: Object.entries(c.cookies ?? {}).map(([k, t]) => `${k}=${encodeURIComponent(fill(t, values))}`),
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
