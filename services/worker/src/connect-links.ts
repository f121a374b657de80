import { randomBytes } from 'node:crypto';
import {
  redisKeys,
  type ConnectLink,
  type HttpOperationPlan,
  type OAuthExchangeJob,
  type OAuthExchangeResult,
  type OAuthRevokeJob,
  type OAuthRevokeResult,
  type RedisKeys,
} from '@toolplane/contracts';
import { TransientError, UserError } from '@toolplane/errors';
import type { Redis } from 'ioredis';
import type { PlanCache } from './catalog-cache.ts';
import type { SecretResolver } from './secret-resolver.ts';
import type { OAuthClient, UserTokenKeeper } from './user-tokens.ts';

/** A tool's plan authorised per person (the descriptor's `oauth2_authorization_code`). */
export type PersonAuth = Extract<HttpOperationPlan['auth'], { kind: 'oauth2_authorization_code' }>;

/** How long a connect link, and then the provider's round trip it starts, may take. */
const LINK_TTL_SECONDS = 600;

/** The workspace's OAuth app for a person's tool: the connector instance's `client_id`/`client_secret` (shared). */
export async function oauthAppOf(
  secrets: SecretResolver,
  plan: Pick<HttpOperationPlan, 'secrets'>,
  auth: PersonAuth,
): Promise<OAuthClient & { clientId: string }> {
  const field = async (name: string) => {
    const secret = plan.secrets[name];
    const value = secret ? await secrets.resolve(secret) : undefined;
    if (value === undefined)
      throw new UserError('secret.not_found', `the connector instance has no OAuth app credential "${name}"`);
    return value;
  };
  return {
    tokenUrl: auth.tokenUrl,
    clientId: await field(auth.clientId),
    clientSecret: await field(auth.clientSecret),
  };
}

/**
 * Connect links (ADR 0027): opaque, single-use, expiring after ten minutes, bound to one workspace, external user
 * and tool (hence connector instance). The control plane serves them at `<PUBLIC_API_URL>/connect/<token>`.
 */
export class ConnectLinks {
  private readonly redis: Redis;
  private readonly keys: RedisKeys;
  private readonly publicApiUrl: string | undefined;

  constructor(redis: Redis, prefix: string, publicApiUrl: string | undefined) {
    this.redis = redis;
    this.keys = redisKeys(prefix);
    this.publicApiUrl = publicApiUrl?.replace(/\/+$/, '');
  }

  /** A new link for `link`, as an absolute URL; undefined when this deployment has no public control-plane URL. */
  async create(link: ConnectLink): Promise<string | undefined> {
    if (!this.publicApiUrl) return undefined;
    const token = randomBytes(32).toString('base64url');
    await this.redis.set(this.keys.oauthConnectLink(token), JSON.stringify(link), 'EX', LINK_TTL_SECONDS);
    return `${this.publicApiUrl}/connect/${token}`;
  }
}

/**
 * `oauth.exchange`: the provider's code for an opened link, exchanged with the app's client secret (read here, the
 * only place it is read) and stored as the person's connection. The link's tool must still be a person's tool whose
 * connection is the one the link names (the plan of that catalog version decides, not the link alone).
 */
export function createOAuthExchangeHandler(deps: {
  plans: PlanCache;
  secrets: SecretResolver;
  userTokens: UserTokenKeeper;
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
    const entry = await deps.plans.get(link.serverId, link.catalogVersion, link.tool);
    const plan = entry?.plan;
    if (plan?.kind !== 'http' || plan.auth?.kind !== 'oauth2_authorization_code') return answer('invalid_link');
    if (plan.auth.connection?.replace('{user}', link.userId) !== link.connection) return answer('invalid_link');
    try {
      const client = await oauthAppOf(deps.secrets, plan, plan.auth);
      const result = await deps.userTokens.connect(link.connection, client, {
        code: task.code,
        verifier: task.verifier,
        redirectUri: task.redirectUri,
      });
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
