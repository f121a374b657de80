import { AuthError } from '@toolplane/errors';
import type { Caller } from '../http/auth.ts';
import { rolesAllow } from '../http/roles.ts';
import type { CreateInstanceBody, UpdateInstanceBody } from './connector-instances/schemas.ts';
import type { CreateExternalServerBody, UpdateExternalServerBody } from './external-mcp-servers/schemas.ts';
import type { CreateServer, UpdateServer } from './servers/schemas.ts';
import type { PutSessionSettingsBody } from './sessions/schemas.ts';

/**
 * Who may change which field (docs/governance.md "Who may loosen a rule", ADR 0073): one table per resource, read by
 * the handlers that enforce it and by the test that tries every field as every role and every kind of key
 * (tests/e2e/governance/loosening-fields.test.ts). A rule is only as strong as the right to change it.
 *
 * - `free`: changes no rule; whoever may change the resource (its role area, its scope, a key limited to its server).
 * - `exposure`: changes what a server offers; a key limited to servers needs the `server_admin` scope
 *   (servers/exposure.ts). Who may call what it offers is still decided by access policies, confirmations and approvals.
 * - `governing`: changing it can loosen a rule (who may call without a policy, confirmations, approvals, what a result
 *   shows, what is cached): only a caller who may change access policies (`mayChangePolicies`).
 * - `origin`: changing it changes where a stored credential is sent: only a caller who may write the workspace's
 *   secrets (`mayWriteSecrets`); anyone else would choose where a credential they cannot write goes.
 */
export type FieldPower = 'free' | 'exposure' | 'governing' | 'origin';

/** Every field of `POST /mcp_manager` and `PATCH /mcp_manager/{id}`. */
export const serverFields = {
  name: 'free',
  description: 'free',
  mode: 'exposure',
  connectorInstanceId: 'exposure',
  selectedTools: 'exposure',
  externalMcpConfigs: 'exposure',
  externalMcpServers: 'exposure',
  // The caller's own upstream credential instead of the stored one: the upstream checks it; every rule still applies.
  perRequestAuth: 'exposure',
  // Anonymous callers, whom no access policy names.
  isPublic: 'governing',
  // `run_code`: programs calling the server's tools.
  codeMode: 'governing',
  confirmTools: 'governing',
  approvalTools: 'governing',
  approvalRule: 'governing',
  // Result shapes, the result cache, task-only tools, forwarding the caller's token upstream, the labels every result
  // brings (`dataLabels`, ADR 0078: taking one away loosens a rule that sees the session).
  config: 'governing',
} as const satisfies Record<keyof CreateServer | keyof UpdateServer, FieldPower>;

/**
 * Every field of `POST /connector_instances` and `PATCH /connector_instances/{id}`. An instance is created with the
 * credentials its creator gives: its origin fields are `origin` once it holds credentials, that is on a change.
 */
export const instanceFields = {
  connector_id: 'free',
  name: 'free',
  createServer: 'free',
  // New values, written by the caller: never readable by them, never sent anywhere but the instance's origin.
  credentials: 'free',
  webhook_secret: 'free',
  base_url: 'origin',
  oauth_urls: 'origin',
} as const satisfies Record<keyof CreateInstanceBody | keyof UpdateInstanceBody, FieldPower>;

/**
 * Every field of `POST /external_mcp_servers` and `PATCH /external_mcp_servers/{id}` (the workspace's registered
 * external MCP servers, ADR 0059/0061). Its sealed headers are its credential: a new `url` while headers are stored is
 * `origin`.
 */
export const externalServerFields = {
  name: 'free',
  url: 'origin',
  // New values, written by the caller (the others keep theirs, and their URL).
  headers: 'free',
  // Publishes every change of its tools at once: no review of what the pins hold back.
  autoAccept: 'governing',
  onChange: 'free',
  notifyWebhookUrl: 'free',
} as const satisfies Record<keyof CreateExternalServerBody | keyof UpdateExternalServerBody, FieldPower>;

/**
 * The parts of a connector's document (`PUT /connectors/{id}` replaces it whole): where its operations send its
 * instances' credentials, what each call costs against cost quotas, the result shapes its tools declare, the data-flow
 * labels its tools declare (ADR 0078: a rule that sees the session holds a call of an `external_write` tool; taking
 * the label away, or `private` from a read, loosens it).
 */
export const connectorParts = {
  origins: 'origin',
  cost: 'governing',
  result_shape: 'governing',
  labels: 'governing',
  other: 'free',
} as const satisfies Record<string, FieldPower>;

/**
 * Every field of `PUT /session_settings` (ADR 0078): the session rules and how long a session keeps its labels. Each
 * can loosen a rule (a rule removed or made log only, labels forgotten sooner).
 */
export const sessionSettingsFields = {
  ttlSeconds: 'governing',
  rules: 'governing',
} as const satisfies Record<keyof PutSessionSettingsBody, FieldPower>;

/**
 * Whether `c` may do what `method` on `path` does: a person whose roles allow it, or a key with the "management" scope
 * and no server restriction. Changing access policies (`post /access_policies`) decides `governing` fields; writing the
 * workspace's secrets (`put /secrets/{name}`) decides `origin` fields.
 */
function mayDo(c: Caller, method: string, path: string): boolean {
  return (
    !c.serverIds && c.scopes.includes('management') && (c.roles === undefined || rolesAllow(c.roles, method, path))
  );
}

/** Whether `c` may change access policies: an admin, or a key with "management" and no server restriction. */
export const mayChangePolicies = (c: Caller): boolean => mayDo(c, 'post', '/access_policies');

const who = (c: Caller) =>
  c.roles !== undefined
    ? `a person with the roles ${c.roles.join(', ') || '(none)'}`
    : c.serverIds
      ? `an API key limited to servers`
      : 'this API key';

/** 403 when `changed` names a field and `c` may not do what `needs` names; `why` is what changing those fields does. */
function refuseUnless(
  c: Caller,
  needs: { method: string; path: string; caller: string },
  why: string,
  changed: readonly string[],
): void {
  if (changed.length === 0 || mayDo(c, needs.method, needs.path)) return;
  throw new AuthError(
    'auth.forbidden',
    `changing ${changed.join(', ')} of ${why}: it needs a caller who may ${needs.caller} (the admin role, or an API ` +
      `key with the "management" scope and no server restriction), not ${who(c)}`,
  );
}

/** 403 when `changed` names a governing field and `c` may not change access policies. */
export function refuseLoosening(c: Caller, resource: string, changed: readonly string[]): void {
  const needs = { method: 'post', path: '/access_policies', caller: 'change access policies' };
  refuseUnless(c, needs, `${resource} can loosen a rule of the workspace`, changed);
}

/** 403 when `changed` names an origin field and `c` may not write the workspace's secrets. */
export function refuseOriginChange(c: Caller, resource: string, changed: readonly string[]): void {
  const needs = { method: 'put', path: '/secrets/{name}', caller: "write the workspace's secrets" };
  refuseUnless(c, needs, `${resource} changes where its stored credentials are sent`, changed);
}

/** A JSON value with its objects' keys in order (a field compared with its stored value). */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * The fields of `table` with `power` that `body` sets to something other than `current` holds (`empty` gives the value
 * a field has when unset: a server's default).
 */
export function changedFields(
  table: Readonly<Record<string, FieldPower>>,
  power: FieldPower,
  body: Record<string, unknown>,
  current: (field: string) => unknown,
): string[] {
  return Object.keys(table).filter(
    (f) => table[f] === power && body[f] !== undefined && canonical(body[f]) !== canonical(current(f)),
  );
}
