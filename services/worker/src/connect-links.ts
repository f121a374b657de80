import { createHash, randomBytes } from 'node:crypto';
import {
  redisKeys,
  userSecrets,
  type ConnectLink,
  type ExecutionPlan,
  type HttpOperationPlan,
  type ToolInvokeJob,
  type WorkflowPlan,
  type OAuthExchangeJob,
  type OAuthExchangeResult,
  type OAuthRevokeJob,
  type OAuthRevokeResult,
  type RedisKeys,
} from '@toolplane/contracts';
import { TransientError, UserError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import type { RedisClient } from '@toolplane/redis';
import type { PlanCache } from './catalog-cache.ts';
import type { SecretResolver } from './secret-resolver.ts';
import { ConnectionRequiredError, type OAuthClient, type UserTokenKeeper } from './user-tokens.ts';

/** A tool's plan authorised per person (the descriptor's `oauth2_authorization_code`). */
export type PersonAuth = Extract<HttpOperationPlan['auth'], { kind: 'oauth2_authorization_code' }>;

/** The workspace's OAuth app of a person's tool, as the token endpoint needs it. */
export type OAuthApp = OAuthClient & { clientId: string };

/** How long a connect link, and then the provider's round trip it starts, may take. */
const LINK_TTL_SECONDS = 600;
/** How long a connection's index of pending links and states lives: a link's time, then its state's. */
const PENDING_TTL_SECONDS = 2 * LINK_TTL_SECONDS;

/** The workspace's OAuth app for a person's tool: the connector instance's `client_id`/`client_secret` (shared). */
export async function oauthAppOf(
  secrets: SecretResolver,
  plan: Pick<HttpOperationPlan, 'secrets'>,
  auth: PersonAuth,
): Promise<OAuthApp> {
  const field = async (name: string) => {
    const secret = plan.secrets[name];
    const value = secret ? await secrets.resolve(secret) : undefined;
    if (value === undefined)
      throw new UserError('secret.not_found', `the connector instance has no OAuth app credential "${name}"`);
    return value;
  };
  return {
    tokenUrl: auth.tokenUrl,
    ...(auth.refreshUrl ? { refreshUrl: auth.refreshUrl } : {}),
    clientId: await field(auth.clientId),
    clientSecret: await field(auth.clientSecret),
  };
}

/**
 * The person's-account auth of each connector-bound source of a workflow that steps call with it (Arazzo sources
 * `toolplane:connectors/…` whose operations' scheme is `oauth2_authorization_code`), by source name: the auth of its
 * first such step, with the scopes of all of them (one connect link covers the workflow's steps on that source).
 */
export function workflowPersonAuths(plan: Pick<WorkflowPlan, 'ir'>): Map<string, PersonAuth> {
  const out = new Map<string, PersonAuth>();
  const workflows = (plan.ir as { workflows?: { steps?: { target?: Record<string, unknown> }[] }[] }).workflows ?? [];
  for (const wf of workflows)
    for (const step of wf.steps ?? []) {
      const target = step.target;
      const auth = (target?.credentials as { auth?: { kind?: string } } | undefined)?.auth;
      if (target?.kind !== 'http' || typeof target.source !== 'string' || auth?.kind !== 'oauth2_authorization_code')
        continue;
      const mine = auth as PersonAuth;
      const seen = out.get(target.source);
      out.set(
        target.source,
        seen
          ? { ...seen, scopes: [...new Set([...seen.scopes, ...(mine.scopes ?? [])])] }
          : { ...mine, scopes: mine.scopes ?? [] },
      );
    }
  return out;
}

/** A person's own account a tool's call may need: its auth, the secret names of the app's credentials, its connection. */
export interface PersonAccount {
  auth: PersonAuth;
  secrets: Record<string, string>;
  /** The person's connection (a secret name). */
  connection: string;
}

/** An HTTP plan's person's account for `userId`, if its scheme is one (and it was compiled with its connection). */
function httpAccount(plan: HttpOperationPlan, userId: string): PersonAccount | undefined {
  if (plan.auth?.kind !== 'oauth2_authorization_code' || !plan.auth.connection) return undefined;
  return { auth: plan.auth, secrets: plan.secrets, connection: plan.auth.connection.replace('{user}', userId) };
}

/**
 * The people's own accounts a tool's call uses for `userId`, in order: an HTTP tool's own; a workflow's, those of its
 * sources bound to a connector instance whose steps use one, then those of the tools its steps call (docs/adr/0039).
 */
export function personAccounts(plan: ExecutionPlan | undefined, workspaceId: string, userId: string): PersonAccount[] {
  if (plan?.kind === 'http') return [httpAccount(plan, userId)].filter((a) => a !== undefined);
  if (plan?.kind !== 'workflow') return [];
  const out: PersonAccount[] = [];
  for (const [source, auth] of workflowPersonAuths(plan)) {
    const bound = plan.connectors?.[source];
    if (bound)
      out.push({ auth, secrets: bound.secrets, connection: userSecrets.oauth(workspaceId, userId, bound.instanceId) });
  }
  for (const step of Object.values(plan.tools ?? {})) {
    const account = step.plan.kind === 'http' ? httpAccount(step.plan, userId) : undefined;
    if (account && !out.some((a) => a.connection === account.connection)) out.push(account);
  }
  return out;
}

/**
 * The person's-account auth a connect link's tool uses for the link's connection, with the secret names of the app's
 * credentials: an HTTP tool's own, or a workflow's (a source bound to the link's connector instance, a tool a step
 * calls). Undefined when the tool (in that catalog version) has none for that connection: the link is not honoured.
 */
function linkedAuth(
  plan: ExecutionPlan | undefined,
  link: ConnectLink,
): { auth: PersonAuth; secrets: Record<string, string> } | undefined {
  return personAccounts(plan, link.workspaceId, link.userId).find((a) => a.connection === link.connection);
}

/** What a call's person's token needs to know of the call: who it runs for, and the tool a connect link names. */
type PersonCall = Pick<ToolInvokeJob, 'principal' | 'serverId' | 'catalogVersion' | 'tool'>;

/** Whether `connection` (a secret name) is `userId`'s own account in `workspaceId`. */
export function isOwnConnection(connection: string, workspaceId: string, userId: string): boolean {
  const named = userSecrets.parseOauth(connection);
  return named?.workspaceId === workspaceId && named.userId === userId;
}

/** What a connect link binds: the person, the tool (in its catalog version) and its connection, the app's sign-in. */
interface ConnectLinkOptions {
  person: { workspaceId: string; userId: string; username: string };
  tool: Omit<PersonCall, 'principal'>;
  auth: PersonAuth;
  clientId: string;
  /** The person's connection (a secret name). */
  connection: string;
}

/** A connect link's binding: the person, the tool (in its catalog version) and its connection, the app's sign-in. */
export function connectLinkFor({ person, tool, auth, clientId, connection }: ConnectLinkOptions): ConnectLink {
  return {
    v: 1,
    workspaceId: person.workspaceId,
    userId: person.userId,
    username: person.username,
    serverId: tool.serverId,
    catalogVersion: tool.catalogVersion,
    tool: tool.tool,
    connection,
    authorizeUrl: auth.authorizeUrl,
    clientId,
    scopes: auth.scopes,
  };
}

/** The token `personToken` looks up: for which call, under which auth, and where its app and connection are. */
interface PersonTokenOptions {
  call: PersonCall;
  auth: PersonAuth;
  /** The workspace's OAuth app, read once the call is known to be for a person. */
  app: () => Promise<OAuthApp>;
  /** The person's connection: its secret name. */
  connection: (userId: string) => string;
  /** The token the upstream just refused (refreshed even when it has not expired). */
  stale?: string | undefined;
}

/**
 * The calling person's access token for a connection, refreshed by the UserTokenKeeper when it expires or when
 * `stale` is the token the upstream just refused. A call made for nobody
 * in particular, or for a person who has not connected (or must authorise again), is refused with a
 * `connection.required` error the model can act on, carrying a new connect link for the call's tool. Used by HTTP
 * tools (processor.ts) and workflow steps (workflow-credentials.ts) alike.
 */
export async function personToken(
  deps: { userTokens?: UserTokenKeeper | undefined; connectLinks?: ConnectLinks | undefined },
  options: PersonTokenOptions,
): Promise<{ token: string; client: OAuthApp }> {
  const { call, auth, app, connection, stale } = options;
  const { userId, username, workspaceId } = call.principal;
  if (!userId || !username)
    throw new UserError(
      'connection.required',
      "This tool acts on a person's own account: call it for an external user (the x-username header, or an OAuth token naming one).",
      { details: { reason: 'no_user' } },
    );
  if (!deps.userTokens) throw new Error('people’s OAuth connections are not configured in this worker');
  const client = await app();
  const name = connection(userId);
  try {
    return { token: await deps.userTokens.accessToken(name, client, stale), client };
  } catch (err) {
    if (!(err instanceof ConnectionRequiredError)) throw err;
    const url = await deps.connectLinks?.create(
      connectLinkFor({
        person: { workspaceId, userId, username },
        tool: call,
        auth,
        clientId: client.clientId,
        connection: name,
      }),
    );
    const what = `User "${username}" ${err.reason === 'missing' ? 'has not connected' : 'has to authorise again'}`;
    const plain = `${what} their own account for this tool's API (${err.message}).`;
    throw new ConnectionRequiredError(
      err.reason,
      url
        ? `${what} their own account for this tool's API. Give them this link to open in a browser ` +
            `(it works once, for 10 minutes), then call the tool again: ${url}`
        : plain,
      url ? `${plain} A connect link was given to the caller.` : plain,
      url,
    );
  }
}

/**
 * Connect links (ADR 0027): opaque, single-use, expiring after ten minutes, bound to one workspace, external user
 * and tool (hence connector instance). The control plane serves them at `<PUBLIC_API_URL>/connect/<token>`.
 */
export class ConnectLinks {
  private readonly redis: RedisClient;
  private readonly keys: RedisKeys;
  private readonly publicApiUrl: string | undefined;

  constructor(redis: RedisClient, prefix: string, publicApiUrl: string | undefined) {
    this.redis = redis;
    this.keys = redisKeys(prefix);
    this.publicApiUrl = publicApiUrl?.replace(/\/+$/, '');
  }

  /**
   * A new link for `link`, as an absolute URL; undefined when this deployment has no public control-plane URL. Redis
   * holds the link under the SHA-256 of its token (the token itself only in the URL), indexed under its connection
   * so that connecting or ending the connection cancels it.
   */
  async create(link: ConnectLink): Promise<string | undefined> {
    if (!this.publicApiUrl) return undefined;
    const token = randomBytes(32).toString('base64url');
    const key = this.keys.oauthConnectLink(createHash('sha256').update(token).digest('hex'));
    const pending = this.keys.oauthConnectPending(link.connection);
    const value = JSON.stringify(link);
    // One MULTI on one Redis. In a cluster the link (found by its token alone) and the index are slots apart: the
    // index first, so that a stored link is always one that ending the connection cancels.
    const written = this.redis.isCluster
      ? [
          ...((await this.redis.multi().sadd(pending, key).expire(pending, PENDING_TTL_SECONDS).exec()) ?? []),
          ...((await this.redis.multi().set(key, value, 'EX', LINK_TTL_SECONDS).exec()) ?? []),
        ]
      : await this.redis
          .multi()
          .set(key, value, 'EX', LINK_TTL_SECONDS)
          .sadd(pending, key)
          .expire(pending, PENDING_TTL_SECONDS)
          .exec();
    const failed = written?.find(([err]) => err)?.[0];
    if (!written || written.length === 0 || failed) throw failed ?? new Error('the connect link could not be stored');
    return `${this.publicApiUrl}/connect/${token}`;
  }
}

/**
 * `oauth.exchange`: the provider's code for an opened link, exchanged with the app's client secret (read here, the
 * only place it is read) and stored as the person's connection. The link's tool must still be a person's tool (or a
 * workflow with a step on such an operation) whose connection is the one the link names (the plan of that catalog
 * version decides, not the link alone).
 */
export function createOAuthExchangeHandler(deps: {
  plans: PlanCache;
  secrets: SecretResolver;
  userTokens: UserTokenKeeper;
  log?: Pick<Logger, 'warn'>;
}) {
  return async (task: OAuthExchangeJob): Promise<OAuthExchangeResult> => {
    const answer = (error?: string): OAuthExchangeResult => ({
      v: 1,
      taskId: task.taskId,
      kind: 'oauth.exchange',
      ok: error === undefined,
      ...(error !== undefined ? { error } : {}),
    });
    const { link } = task;
    // The connection must be the named person's in the named workspace (the control plane checks the same against
    // its database): a link rewritten to store tokens under another workspace's or person's name stores nothing.
    if (!isOwnConnection(link.connection, link.workspaceId, link.userId)) return answer('invalid_link');
    const entry = await deps.plans.get(link.serverId, link.catalogVersion, link.tool);
    const linked = linkedAuth(entry?.plan, link);
    if (!linked) return answer('invalid_link');
    try {
      const client = await oauthAppOf(deps.secrets, linked, linked.auth);
      // A connection made again (another grant) ends the previous one at the provider, as a disconnect would.
      const result = await deps.userTokens.connect(
        link.connection,
        client,
        { code: task.code, verifier: task.verifier, redirectUri: task.redirectUri },
        linked.auth.revocationUrl,
      );
      if (result.ok && result.replaced?.revocation === 'failed')
        deps.log?.warn(
          { connection: link.connection, error: result.replaced.error },
          "a person's previous grant could not be revoked at the provider (replaced by a new connection)",
        );
      return result.ok ? answer() : answer(result.error);
    } catch (err) {
      if (err instanceof TransientError) return answer('temporarily_unavailable');
      if (err instanceof UserError) return answer('server_error');
      throw err;
    }
  };
}

/**
 * `oauth.revoke`: a person's connection ended from the management API. The task carries the instance's compiled
 * auth (secret names only); the app's credentials must be the workspace's instance credentials and the connection
 * one of the workspace's people's, so a task cannot point the app's secret at another workspace's names.
 */
export function createOAuthRevokeHandler(deps: { secrets: SecretResolver; userTokens: UserTokenKeeper }) {
  return async (task: OAuthRevokeJob): Promise<OAuthRevokeResult> => {
    const reply = (revocation: OAuthRevokeResult['revocation'], error?: string): OAuthRevokeResult => ({
      v: 1,
      taskId: task.taskId,
      kind: 'oauth.revoke',
      revocation,
      ...(error !== undefined ? { error } : {}),
    });
    const own = `ws/${task.workspaceId}/`;
    const { auth } = task;
    if (
      auth.kind !== 'oauth2_authorization_code' ||
      !task.connection.startsWith(`${own}users/`) ||
      ![auth.clientId, auth.clientSecret].every((f) => task.secrets[f]?.startsWith(`${own}connector-instances/`))
    )
      return reply('failed', 'invalid_task');
    let client: OAuthClient;
    try {
      client = await oauthAppOf(deps.secrets, task, auth);
    } catch (err) {
      // The app's credentials are gone: the control plane deletes the tokens without a revocation.
      if (err instanceof UserError) return reply('failed', 'app_credentials_missing');
      throw err;
    }
    const outcome = await deps.userTokens.disconnect(task.connection, client, auth.revocationUrl);
    return reply(outcome.revocation, outcome.error);
  };
}
