import { AuthError } from '@toolplane/errors';
import type { Caller } from '../http/auth.ts';
import { rolesAllow } from '../http/roles.ts';

/**
 * Who may change which field (docs/governance.md "Who may loosen a rule", ADR 0073): one table per resource, declared in
 * its own folder (`<name>/field-powers.ts`; this module imports none), read by the handlers that enforce it and by the
 * test that tries every field as every role and every kind of key (tests/e2e/governance/loosening-fields.test.ts).
 * A rule is only as strong as the right to change it.
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
