import { createHash, randomBytes } from 'node:crypto';
import type { CacheItem, CacheProvider } from '@node-saml/node-saml';
import type { RedisClient } from '@toolplane/redis';

// What SAML sign-in keeps in Redis (ADR 0083), shared by every control-plane replica: the ids of the AuthnRequests
// this control plane sent (InResponseTo), the ids of assertions already used (replay refusal, each until the assertion
// expires), the one-time codes the dashboard redeems, and the sessions those codes open. Codes and session tokens are
// stored by their SHA-256 only.

const digest = (value: string) => createHash('sha256').update(value).digest('hex');

/** How long an AuthnRequest may wait for its answer (the person signs in at the identity provider meanwhile). */
export const requestLifetimeMs = 10 * 60_000;
/** How long the dashboard has to redeem a sign-in's code (it does so as soon as the page loads). */
const codeLifetimeMs = 60_000;

/** A signed-in person's SAML session: what its bearer token stands for. */
export interface SamlSession {
  workspaceId: string;
  subject: string;
  groups: string[];
  scopes: string[];
  /** Epoch ms. */
  expiresAt: number;
}

/** The prefix of SAML session tokens: how the management API tells them from an OAuth issuer's JWTs. */
export const sessionTokenPrefix = 'tps_';

export class SamlStore {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.prefix = `${prefix}:saml`;
  }

  /** @node-saml/node-saml's cache of request ids, in Redis: a response answers a request of any replica. */
  requestCache(): CacheProvider {
    const key = (id: string) => `${this.prefix}:request:${digest(id)}`;
    return {
      saveAsync: async (id: string, value: string): Promise<CacheItem | null> => {
        const set = await this.redis.set(key(id), value, 'PX', requestLifetimeMs, 'NX');
        return set === 'OK' ? { value, createdAt: Date.now() } : null;
      },
      getAsync: (id: string) => this.redis.get(key(id)),
      removeAsync: async (id: string | null) => {
        if (id === null) return null;
        return this.redis.getdel(key(id));
      },
    };
  }

  /**
   * Marks an assertion used until it expires (SET NX): true the first time, false when it was used already. Kept at
   * least a minute (clock skew) so that a replay just before its expiry is still refused.
   */
  async firstUse(assertionId: string, notOnOrAfter: number): Promise<boolean> {
    const ttl = Math.max(60_000, notOnOrAfter - Date.now() + 60_000);
    const set = await this.redis.set(`${this.prefix}:assertion:${digest(assertionId)}`, '1', 'PX', ttl, 'NX');
    return set === 'OK';
  }

  /** A new session and the one-time code that hands its token to the dashboard. */
  async open(session: SamlSession, returnTo: string): Promise<string> {
    const token = sessionTokenPrefix + randomBytes(32).toString('base64url');
    const code = randomBytes(32).toString('base64url');
    const ttl = session.expiresAt - Date.now();
    // The session first, then its code (two slots on a cluster, so no MULTI): a code never names a missing session.
    await this.redis.set(`${this.prefix}:session:${digest(token)}`, JSON.stringify(session), 'PX', ttl);
    await this.redis.set(
      `${this.prefix}:code:${digest(code)}`,
      JSON.stringify({ token, returnTo }),
      'PX',
      codeLifetimeMs,
    );
    return code;
  }

  /** The token and return path a code stands for, once (GETDEL); undefined for an unknown, used or expired code. */
  async redeem(code: string): Promise<{ token: string; returnTo: string; session: SamlSession } | undefined> {
    const held = await this.redis.getdel(`${this.prefix}:code:${digest(code)}`);
    if (!held) return undefined;
    const { token, returnTo } = JSON.parse(held) as { token: string; returnTo: string };
    const session = await this.session(token);
    return session ? { token, returnTo, session } : undefined;
  }

  /** Ends a session (signing out): its token is refused from now on. */
  async end(token: string): Promise<void> {
    await this.redis.del(`${this.prefix}:session:${digest(token)}`);
  }

  /** The live session of a token, or undefined. */
  async session(token: string): Promise<SamlSession | undefined> {
    const held = await this.redis.get(`${this.prefix}:session:${digest(token)}`);
    if (!held) return undefined;
    const session = JSON.parse(held) as SamlSession;
    return session.expiresAt > Date.now() ? session : undefined;
  }
}
