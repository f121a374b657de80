import type { OAuthConnectLinkJob, OAuthConnectLinkResult } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import type { PlanCache } from './catalog-cache.ts';
import { connectLinkFor, isOwnConnection, oauthAppOf, personAccounts, type ConnectLinks } from './connect-links.ts';
import type { SecretResolver } from './secret-resolver.ts';

/**
 * `oauth.connect_link`: a connect link for a person's own account, asked by the edge (SMART `connect`) without a
 * call (ADR 0027); for a workflow tool, the first account its steps use (ADR 0039). The plan of the named catalog
 * version decides the connection and the OAuth app, as for a call, and the connection must be the task's person's, in
 * the task's workspace. Only a worker makes links: they name the app's client id, read from the secrets store. The
 * edge gets the URL only; the link's binding stays in Redis.
 */
export function createConnectLinkHandler(deps: { plans: PlanCache; secrets: SecretResolver; links: ConnectLinks }) {
  return async (task: OAuthConnectLinkJob): Promise<OAuthConnectLinkResult> => {
    const answer = (outcome: { url: string } | { error: string }): OAuthConnectLinkResult => ({
      v: 1,
      taskId: task.taskId,
      kind: 'oauth.connect_link',
      ...outcome,
    });
    const plan = (await deps.plans.get(task.serverId, task.catalogVersion, task.tool))?.plan;
    // A workflow's: the first account its steps use (a connector source's, or a tool's a step calls).
    const account = personAccounts(plan, task.workspaceId, task.userId)[0];
    if (!account) return answer({ error: 'not_an_account_tool' });
    const { auth, connection } = account;
    if (!isOwnConnection(connection, task.workspaceId, task.userId)) return answer({ error: 'invalid_task' });
    let clientId: string;
    try {
      ({ clientId } = await oauthAppOf(deps.secrets, account, auth));
    } catch (err) {
      if (err instanceof UserError) return answer({ error: 'app_credentials_missing' });
      throw err;
    }
    const url = await deps.links.create(connectLinkFor({ person: task, tool: task, auth, clientId, connection }));
    return answer(url ? { url } : { error: 'no_public_url' });
  };
}
