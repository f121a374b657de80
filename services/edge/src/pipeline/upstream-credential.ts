import type { ErrorCode } from '@toolplane/errors';
import type { ToolCallDeps } from '../calls/call-types.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';
import { refuse } from './refusal.ts';
import type { Stage } from './stage.ts';

/**
 * A call carrying the caller's own upstream credential (`X-Upstream-Authorization`, per-request authentication): refused
 * unless the server takes it and this edge can seal it for the workers. Calls without the header pay one test.
 */
export const upstreamCredentialStage: Stage = {
  name: 'upstream-credential',
  appliesTo: () => true,
  run(s) {
    if (s.call.request.upstreamAuthorization === undefined) return undefined;
    const refusal = upstreamRefusal(s.call.loaded, s.deps);
    return refusal && refuse(s, { errorCode: refusal.code, message: refusal.message });
  },
};

/** Why a call carrying `X-Upstream-Authorization` is refused, if it is. */
function upstreamRefusal(loaded: LoadedCatalog, deps: ToolCallDeps): { code: ErrorCode; message: string } | undefined {
  if (!loaded.catalog.perRequestAuth)
    return {
      code: 'auth.upstream_authorization_refused',
      message:
        'This MCP server does not accept the X-Upstream-Authorization header: per-request authentication is off ' +
        `(perRequestAuth). Call without the header, or enable it with PATCH /api/v1/mcp_manager/${loaded.catalog.serverId} ` +
        '{ "perRequestAuth": true }.',
    };
  if (!deps.sealUpstreamCredential)
    return {
      code: 'auth.upstream_authorization_unavailable',
      message:
        'This deployment cannot carry per-request credentials (the edge has no REQUEST_CREDENTIALS_PUBLIC_KEY_FILE): ' +
        'call without the X-Upstream-Authorization header.',
    };
  return undefined;
}
