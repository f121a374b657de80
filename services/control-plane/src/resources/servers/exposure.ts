import { AuthError } from '@toolplane/errors';
import type { Caller } from '../../http/auth.ts';

/**
 * Fields of `PATCH /mcp_manager/{id}` that change what a server exposes or who may call it: a key limited to
 * servers could otherwise widen its own server (another connector instance, SMART mode over the workspace's
 * tools, external servers, a public URL for anonymous callers, calls no person confirms any more). They need a key without a server restriction, or
 * the `server_admin` scope, as deploying a workflow does (`x-server-limited-keys: server_admin`).
 */
const exposureFields = [
  'mode',
  'isPublic',
  'perRequestAuth',
  'codeMode',
  'connectorInstanceId',
  'selectedTools',
  'confirmTools',
  'externalMcpConfigs',
  'externalMcpServers',
  'config',
] as const;

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
