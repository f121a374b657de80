import { credentialRefusal, type StandingWords } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import type { ToolCall } from './call-types.ts';

const words: StandingWords = {
  key: 'the API key',
  keyGone: 'the API key was revoked or deleted',
  token: 'the access token',
  person: (username) => `the person "${username}" it acts for is no longer an active external user`,
};

/**
 * Whether a caller still stands when something it started acts for it later (a `run_code` program's inner calls; ADR
 * 0090, "judged when it acts"): its API key still published, not revoked, with `runtime` and reaching the server; no
 * token of a narrowed token's chain revoked; its token not expired; the person it acts for still that workspace's
 * active person. Read from Redis as it is now with `credentialRefusal`, the judgement event subscriptions and tasks'
 * jobs follow. Undefined: it stands (an anonymous caller always does); else why not. Redis unreachable: refused.
 */
export function callerStanding(redis: RedisClient, prefix: string) {
  return async (call: ToolCall): Promise<string | undefined> => {
    const { credential, principal } = call;
    const delegation = call.facts.delegation;
    if (!credential || credential.kind === 'anonymous') return undefined;
    const { workspaceId, serverId } = call.loaded.catalog;
    const standing = {
      workspaceId,
      serverId,
      keyHash: credential.kind === 'key' ? credential.keyHash : undefined,
      tokenChain: delegation ? [...delegation.token.chain] : undefined,
      expiresAt: credential.expiresAt,
      // The person by id: a name the edge resolved to no id is not one it acts for.
      ...(principal.userId !== undefined ? { username: principal.username, userId: principal.userId } : {}),
    };
    try {
      return await credentialRefusal(redis, prefix, standing, { now: Date.now(), words });
    } catch {
      return "the caller's credential could not be checked";
    }
  };
}
