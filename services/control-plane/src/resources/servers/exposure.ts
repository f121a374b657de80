import { AuthError } from '@toolplane/errors';
import type { Caller } from '../../http/auth.ts';
import type { ServerRow } from '../../catalog/compile.ts';
import { changedFields, refuseLoosening } from '../governing.ts';
import { serverFields } from './field-powers.ts';

/**
 * Fields of `PATCH /mcp_manager/{id}` that change what a server exposes or who may call it (`exposure` and `governing`
 * in resources/governing.ts): a key limited to servers could otherwise widen its own server (another connector
 * instance, SMART mode over the workspace's tools, external servers, a public URL for anonymous callers, calls no
 * person confirms or approves any more). They need a key without a server restriction, or the `server_admin` scope,
 * as deploying a workflow does (`x-server-limited-keys: server_admin`); a governing field then still needs a caller who
 * may change access policies (`refuseLoosening`), which no key limited to servers is.
 */
const exposureFields = Object.entries(serverFields).flatMap(([f, power]) => (power === 'free' ? [] : [f]));

/** Refuses (403), before the body is validated, a limited key's change of what its server exposes. */
export function refuseExposureChange({ caller, body }: { caller: Caller; body: unknown }): void {
  const { serverIds, scopes } = caller;
  if (!serverIds || scopes.includes('server_admin')) return;
  const fields =
    typeof body === 'object' && body !== null
      ? exposureFields.filter((f) => (body as Record<string, unknown>)[f] !== undefined)
      : [];
  if (fields.length > 0)
    throw new AuthError(
      'auth.forbidden',
      `this API key is limited to servers ${serverIds.join(', ')}: changing ${fields.join(', ')} (what the server ` +
        'exposes or who may call it) needs a key without a server restriction or with the "server_admin" scope',
    );
}

/** What a new server holds in each governing field it is not given. */
const governingDefaults: Record<string, unknown> = {
  isPublic: false,
  codeMode: false,
  confirmTools: [],
  approvalTools: [],
  approvalRule: null,
  config: {},
};

/**
 * 403 unless the caller may change access policies, when `body` changes a governing field of server `row` (a new
 * server: from its defaults). A value equal to the stored one changes nothing and passes.
 */
export function refuseServerLoosening(caller: Caller, body: object, row?: ServerRow): void {
  const stored = row as unknown as Record<string, unknown> | undefined;
  const current = (f: string) => (stored ? (stored[f] ?? (f === 'config' ? {} : null)) : governingDefaults[f]);
  const changed = changedFields(serverFields, 'governing', body as Record<string, unknown>, current);
  refuseLoosening(caller, row ? `server ${row.name}` : 'a new server', changed);
}
