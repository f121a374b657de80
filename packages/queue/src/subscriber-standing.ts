import { ApiKeyRecord, delegationKeys, redisKeys, type EventSubscription } from '@toolplane/contracts';
import type { Cluster, Redis } from 'ioredis';

type Client = Redis | Cluster;

/** The published state is missing or being restored: a miss is not a verdict (nothing given, nothing ended). */
export class SubscriberStateUnavailable extends Error {
  constructor() {
    super("the subscriber's credential could not be judged: the published state is incomplete");
    this.name = 'SubscriberStateUnavailable';
  }
}

/**
 * Why a subscription's subscriber may no longer be given anything (issue #89, docs/events.md "A subscription follows
 * its credential"), judged as a new request of theirs would be, from what Redis holds now: the API key still
 * published, not revoked, with the `runtime` scope and still reaching the subscription's server; a narrowed token not
 * revoked (nor any token of its chain); a token not expired; the person it acts for still that workspace's active
 * person. Undefined: it stands. A miss while the control plane's published state is incomplete throws
 * `SubscriberStateUnavailable`. Three reads at most (an `EXISTS` per token of a chain).
 */
export async function subscriberRefusal(
  redis: Client,
  prefix: string,
  sub: EventSubscription,
  now: number,
): Promise<string | undefined> {
  const { credential, principal } = sub;
  const anonymous = principal.keyId === undefined && (principal.subject ?? 'anonymous') === 'anonymous';
  if (!credential) return anonymous ? undefined : 'it was made before subscriptions kept their credential';
  if (credential.expiresAt !== undefined && credential.expiresAt <= now) return 'the access token expired';
  const keys = redisKeys(prefix);
  const { username } = principal;
  const [key, person, revoked] = await Promise.all([
    credential.keyHash !== undefined ? redis.hget(keys.apiKeys, credential.keyHash) : undefined,
    username !== undefined ? redis.hget(keys.users(sub.workspaceId), username) : undefined,
    Promise.all((credential.tokenChain ?? []).map((jti) => redis.exists(delegationKeys(prefix).revoked(jti)))),
  ]);
  if (revoked.some((n) => n > 0)) return 'the narrowed token was revoked';
  const missing = (credential.keyHash !== undefined && key === null) || (username !== undefined && person === null);
  if (missing && (await redis.exists(keys.runtimeState)) === 0) throw new SubscriberStateUnavailable();
  if (credential.keyHash !== undefined) {
    const parsed = key ? ApiKeyRecord.safeParse(JSON.parse(key)) : undefined;
    const record = parsed?.success && !parsed.data.revoked ? parsed.data : undefined;
    if (!record) return 'the API key was revoked or deleted';
    if (!record.scopes.includes('runtime')) return 'the API key has no "runtime" scope';
    if (record.serverIds && !record.serverIds.includes(sub.serverId))
      return 'the API key is limited to other MCP servers';
  }
  if (username !== undefined && (person === null || person !== credential.userId))
    return `the person "${username}" it acts for is no longer an active external user`;
  return undefined;
}
