import { randomBytes } from 'node:crypto';
import { redisKeys, userSecrets, type OAuthConnectionState, type RedisKeys } from '@toolplane/contracts';
import { InternalError, TransientError, UserError } from '@toolplane/errors';
import type { RedisClient } from '@toolplane/redis';
import { postTokenForm, type TokenAnswer } from './auth.ts';
import type { HttpLimits } from './http-operation.ts';

/**
 * A person's OAuth tokens for one connection, as the secrets store holds them: one JSON value, so a rotation
 * (new access token and new refresh token) is stored as a whole or not at all. Never leaves the worker.
 */
export interface StoredTokens {
  access_token: string;
  refresh_token?: string;
  /** Epoch milliseconds; absent: the provider gave no lifetime (used until the upstream refuses it). */
  expires_at?: number;
  /** Epoch milliseconds when the worker got the token (bounds the refresh margin by the token's lifetime). */
  obtained_at?: number;
  scope?: string;
}

/** Where the tokens live: the secrets store, read and written by the worker only. */
export interface TokenStore {
  read(name: string): Promise<string | undefined>;
  write(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
}

/**
 * A secrets writer limited to people's OAuth tokens (`ws/<ws>/users/<user>/oauth/<instance>`): the worker writes
 * nothing else. A sealed store on a volume has no per-name permissions, so the limit is here (on AWS the worker's IAM
 * policy also names the tokens' secrets only).
 */
export function peopleTokensOnly<
  W extends { put(name: string, value: string): Promise<unknown>; delete(name: string): Promise<unknown> },
>(writer: W): Pick<W, 'put' | 'delete'> {
  const only = (name: string) => {
    if (!userSecrets.parseOauth(name))
      throw new InternalError('internal.unexpected', 'the worker writes people’s OAuth tokens only');
  };
  return {
    put: ((name: string, value: string) => (only(name), writer.put(name, value))) as W['put'],
    delete: ((name: string) => (only(name), writer.delete(name))) as W['delete'],
  };
}

/** The workspace's OAuth app for the connector: what the token endpoint needs to refresh. */
export interface OAuthClient {
  tokenUrl: string;
  /** Where refreshes go, when not `tokenUrl` (OpenAPI's `refreshUrl`). */
  refreshUrl?: string;
  clientId: string;
  clientSecret: string;
}

/** The person has no usable connection: the caller answers with a connect link. */
export class ConnectionRequiredError extends UserError {
  readonly reason: 'missing' | 'needs_reauthorization';
  /**
   * What the execution record says: the message without the connect link. Whoever opens a link first connects
   * their account as that person, so it goes to the caller only, never to records others can read.
   */
  readonly recordMessage: string;
  /** The connect link `message` carries, if one was made: the caller's reply names it apart too (URL-mode elicitation). */
  readonly connectUrl: string | undefined;
  constructor(
    reason: 'missing' | 'needs_reauthorization',
    message: string,
    recordMessage = message,
    connectUrl?: string,
  ) {
    super('connection.required', message, { details: { reason } });
    this.reason = reason;
    this.recordMessage = recordMessage;
    this.connectUrl = connectUrl;
  }
}

/** How revoking a grant at the provider went (RFC 7009). */
type RevocationOutcome = { revocation: 'revoked' | 'no_endpoint' | 'failed'; error?: string };

/** Compare-and-delete: a lock is released only by the holder that set it (its random value). */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

function parse(raw: string | undefined): StoredTokens | undefined {
  if (raw === undefined) return undefined;
  try {
    const t = JSON.parse(raw) as StoredTokens;
    return typeof t.access_token === 'string' ? t : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Gives calls a usable access token for a person's connection, refreshing it in the data plane.
 *
 * - A token that expires within `marginMs` is refreshed before the call; for a token that lives less than twice the
 *   margin, within half its lifetime (a 4 s token is not refreshed on every call).
 * - Concurrent calls for one connection, on any number of workers, cause one refresh: the refresher holds a lock in
 *   Redis (`SET NX PX`, released by compare-and-delete); the others wait for the lock to go, then read what it
 *   stored. A holder that dies leaves the lock to expire after `lockTtlMs`, and the next caller refreshes.
 * - `stale`: a token the upstream just refused (401). It is refreshed unless the store already holds another one,
 *   so a burst of 401s for one token also causes one refresh.
 * - A refresh the provider refuses (`invalid_grant`) marks the connection `needs_reauthorization` and throws
 *   `ConnectionRequiredError`; a provider that is down or answers 5xx throws a `TransientError` and marks nothing.
 * - What is known of each connection (status, expiry, scopes; no secret) is kept in a Redis hash
 *   (`oauthConnection`) for the control plane's and the edge's listings.
 */
export class UserTokenKeeper {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly keys: RedisKeys;
  private readonly store: TokenStore;
  private readonly limits: HttpLimits;
  private readonly now: () => number;
  private readonly marginMs: number;
  private readonly lockTtlMs: number;
  private readonly waitMs: number;

  constructor(opts: {
    redis: RedisClient;
    prefix: string;
    store: TokenStore;
    limits: HttpLimits;
    now?: () => number;
    /** Refresh a token that expires within this long (default 60 s). */
    marginMs?: number;
    /** How long a refresher may hold the lock before others take over (default 30 s, above the token timeout). */
    lockTtlMs?: number;
    /** How long a call waits for another refresher before giving up with a TransientError (default 45 s). */
    waitMs?: number;
  }) {
    this.redis = opts.redis;
    this.prefix = opts.prefix;
    this.keys = redisKeys(opts.prefix);
    this.store = opts.store;
    this.limits = opts.limits;
    this.now = opts.now ?? Date.now;
    this.marginMs = opts.marginMs ?? 60_000;
    this.lockTtlMs = opts.lockTtlMs ?? 30_000;
    this.waitMs = opts.waitMs ?? 45_000;
  }

  /** The Redis hash describing a connection (`OAuthConnectionState`; absent: usable as far as known). */
  statusKey(name: string): string {
    return this.keys.oauthConnection(name);
  }

  /** Records what is known of a connection after its tokens were stored (no secret in it). */
  private async stored(name: string, tokens: StoredTokens, first: boolean): Promise<void> {
    const state: OAuthConnectionState = {
      status: 'connected',
      ...(first ? { connected_at: String(this.now()) } : {}),
      expires_at: tokens.expires_at === undefined ? '' : String(tokens.expires_at),
      scope: tokens.scope ?? '',
    };
    await this.redis.hset(this.statusKey(name), state);
  }

  private lockKey(name: string): string {
    return `${this.prefix}:oauth-refresh-lock:${name}`;
  }

  private usable(t: StoredTokens, stale: string | undefined): boolean {
    if (stale !== undefined && t.access_token === stale) return false;
    if (t.expires_at === undefined) return true;
    const lifetime = t.obtained_at === undefined ? Infinity : t.expires_at - t.obtained_at;
    return t.expires_at - Math.min(this.marginMs, lifetime / 2) > this.now();
  }

  /** Another call's refresh, not yet expired: used as it is (20 concurrent calls cause one refresh, whatever the lifetime). */
  private refreshedByAnother(t: StoredTokens, stale: string): boolean {
    return t.access_token !== stale && (t.expires_at === undefined || t.expires_at > this.now());
  }

  private async load(name: string): Promise<StoredTokens> {
    const status = await this.redis.hget(this.statusKey(name), 'status');
    if (status === 'needs_reauthorization')
      throw new ConnectionRequiredError('needs_reauthorization', 'the connected account must be authorised again');
    const tokens = parse(await this.store.read(name));
    if (!tokens) throw new ConnectionRequiredError('missing', 'no account is connected for this user');
    return tokens;
  }

  /** A usable access token of connection `name` (the secret's name), refreshed with `client` when needed. */
  async accessToken(name: string, client: OAuthClient, stale?: string): Promise<string> {
    const tokens = await this.load(name);
    if (this.usable(tokens, stale)) return tokens.access_token;
    return this.refresh(name, client, stale ?? tokens.access_token);
  }

  /**
   * Completes a connection: exchanges the authorization `code` (with its PKCE `verifier`) at the token endpoint,
   * stores the tokens as connection `name` and clears a `needs_reauthorization` mark. Answers only what the caller
   * may show the person: `connected`, or the provider's error code. Nothing is stored when the exchange fails.
   *
   * Tokens the connection held before (another grant: the person connected again, maybe another account) are
   * replaced under the refresh lock (a refresh of the old grant cannot write over the new one), then revoked at
   * `revocationUrl` as a disconnect does; how that went is in `replaced` (the connection is made either way).
   */
  async connect(
    name: string,
    client: OAuthClient,
    grant: { code: string; verifier: string; redirectUri: string },
    revocationUrl?: string,
  ): Promise<{ ok: true; replaced?: RevocationOutcome } | { ok: false; error: string }> {
    const answer = await this.tokenRequest(client, {
      grant_type: 'authorization_code',
      code: grant.code,
      code_verifier: grant.verifier,
      redirect_uri: grant.redirectUri,
    });
    if (!answer.ok) return { ok: false, error: answer.error };
    const tokens = this.toStored(answer.body, undefined);
    if (!tokens) return { ok: false, error: 'invalid_token_response' };
    const previous = await this.locked(name, async () => {
      const before = parse(await this.store.read(name));
      await this.store.write(name, JSON.stringify(tokens));
      await this.stored(name, tokens, true);
      return before;
    });
    // Maybe the same grant: the refresh token given before, or none this time (providers such as Google answer a new
    // authorisation of a grant they already hold without one). Revoking it would end the new tokens too.
    if (!previous || (previous.refresh_token !== undefined && tokens.refresh_token === undefined)) return { ok: true };
    if (previous.refresh_token !== undefined && previous.refresh_token === tokens.refresh_token) return { ok: true };
    return { ok: true, replaced: await this.revoke(previous, client, revocationUrl) };
  }

  /**
   * RFC 7009: revokes `tokens` at `revocationUrl` (the refresh token when there is one, else the access token; client
   * authentication as for the token endpoint). Never throws for the provider's sake: its refusal or absence is the
   * outcome.
   */
  private async revoke(
    tokens: StoredTokens,
    client: OAuthClient,
    revocationUrl: string | undefined,
  ): Promise<RevocationOutcome> {
    if (!revocationUrl) return { revocation: 'no_endpoint' };
    const form = tokens.refresh_token
      ? { token: tokens.refresh_token, token_type_hint: 'refresh_token' }
      : { token: tokens.access_token, token_type_hint: 'access_token' };
    try {
      const answer = await this.tokenRequest({ ...client, tokenUrl: revocationUrl }, form);
      return answer.ok ? { revocation: 'revoked' } : { revocation: 'failed', error: answer.error };
    } catch (err) {
      if (!(err instanceof TransientError)) throw err;
      return { revocation: 'failed', error: 'temporarily_unavailable' };
    }
  }

  /** Runs `fn` holding the connection's refresh lock (waiting for another holder, as refreshes do). */
  private async locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const deadline = this.now() + this.waitMs;
    const lock = this.lockKey(name);
    const holder = randomBytes(16).toString('hex');
    while ((await this.redis.set(lock, holder, 'PX', this.lockTtlMs, 'NX')) !== 'OK') {
      if (this.now() > deadline)
        throw new TransientError('service.unavailable', 'a refresh of this connection did not finish');
      await new Promise((r) => setTimeout(r, 25));
    }
    try {
      return await fn();
    } finally {
      await this.redis.eval(RELEASE, 1, lock, holder);
    }
  }

  /**
   * Ends a connection: revokes its token at the provider (RFC 7009: the refresh token when there is one, else the
   * access token; client authentication as for the token endpoint) when `revocationUrl` is given, then deletes the
   * tokens and what is known of the connection, whatever the provider answered (the person asked to disconnect).
   */
  async disconnect(
    name: string,
    client: OAuthClient,
    revocationUrl: string | undefined,
  ): Promise<{ revocation: RevocationOutcome['revocation'] | 'not_connected'; error?: string }> {
    const tokens = parse(await this.store.read(name));
    const outcome = tokens
      ? await this.revoke(tokens, client, revocationUrl)
      : { revocation: 'not_connected' as const };
    await this.store.delete(name);
    await this.redis.del(this.statusKey(name));
    return outcome;
  }

  private async refresh(name: string, client: OAuthClient, stale: string): Promise<string> {
    const deadline = this.now() + this.waitMs;
    const lock = this.lockKey(name);
    const holder = randomBytes(16).toString('hex');
    for (;;) {
      if ((await this.redis.set(lock, holder, 'PX', this.lockTtlMs, 'NX')) === 'OK') {
        try {
          // Another worker may have refreshed between our read and the lock.
          const current = await this.load(name);
          if (this.usable(current, stale) || this.refreshedByAnother(current, stale)) return current.access_token;
          const next = await this.requestRefresh(name, client, current);
          await this.store.write(name, JSON.stringify(next));
          await this.stored(name, next, false);
          return next.access_token;
        } finally {
          await this.redis.eval(RELEASE, 1, lock, holder);
        }
      }
      // Someone else is refreshing: wait for the lock to go, then use what they stored.
      while ((await this.redis.exists(lock)) === 1) {
        if (this.now() > deadline)
          throw new TransientError('service.unavailable', 'another refresh of this connection did not finish');
        await new Promise((r) => setTimeout(r, 25));
      }
      const current = await this.load(name);
      if (this.usable(current, stale) || this.refreshedByAnother(current, stale)) return current.access_token;
      if (this.now() > deadline)
        throw new TransientError('service.unavailable', 'the connection could not be refreshed in time');
    }
  }

  private async requestRefresh(name: string, client: OAuthClient, current: StoredTokens): Promise<StoredTokens> {
    if (!current.refresh_token) return this.needsReauthorization(name, 'the provider gave no refresh token');
    const answer = await this.tokenRequest(client.refreshUrl ? { ...client, tokenUrl: client.refreshUrl } : client, {
      grant_type: 'refresh_token',
      refresh_token: current.refresh_token,
    });
    // invalid_grant: the refresh token is revoked, expired or already used; the person must connect again.
    if (!answer.ok && answer.error === 'invalid_grant')
      return this.needsReauthorization(name, 'the provider refused the refresh');
    if (!answer.ok)
      throw new UserError('upstream.http_error', `the OAuth token endpoint refused the refresh (${answer.error})`);
    const next = this.toStored(answer.body, current);
    if (!next) throw new UserError('upstream.http_error', 'the OAuth token endpoint answered without an access token');
    return next;
  }

  /**
   * One request to the token endpoint (client authentication by HTTP Basic, RFC 6749 2.3.1). A provider that cannot
   * be reached or answers 5xx/429 is a TransientError; a 4xx gives the provider's `error` code.
   */
  private async tokenRequest(
    client: OAuthClient,
    form: Record<string, string>,
  ): Promise<{ ok: true; body: TokenAnswer } | { ok: false; error: string }> {
    const { outcome, body } = await postTokenForm(client.tokenUrl, client, form, this.limits);
    if (outcome.kind !== 'response')
      throw new TransientError(
        'upstream.unreachable',
        `the OAuth token endpoint could not be reached (${outcome.kind})`,
      );
    if (outcome.status >= 500 || outcome.status === 429)
      throw new TransientError('upstream.unreachable', `the OAuth token endpoint answered HTTP ${outcome.status}`);
    if (outcome.status >= 200 && outcome.status < 300) return { ok: true, body: body ?? {} };
    return { ok: false, error: typeof body?.error === 'string' ? body.error : `http_${outcome.status}` };
  }

  /** The tokens to store from a token answer; `current`: what a refresh replaces (its refresh token and scope kept). */
  private toStored(body: TokenAnswer, current: StoredTokens | undefined): StoredTokens | undefined {
    if (typeof body.access_token !== 'string') return undefined;
    // Providers that do not rotate answer a refresh without a refresh token: the old one stays valid.
    const refresh = typeof body.refresh_token === 'string' ? body.refresh_token : current?.refresh_token;
    const scope = typeof body.scope === 'string' ? body.scope : current?.scope;
    return {
      access_token: body.access_token,
      ...(refresh ? { refresh_token: refresh } : {}),
      ...(typeof body.expires_in === 'number'
        ? { expires_at: this.now() + body.expires_in * 1000, obtained_at: this.now() }
        : {}),
      ...(scope ? { scope } : {}),
    };
  }

  private async needsReauthorization(name: string, why: string): Promise<never> {
    await this.redis.hset(
      this.statusKey(name),
      'status',
      'needs_reauthorization' satisfies OAuthConnectionState['status'],
    );
    throw new ConnectionRequiredError(
      'needs_reauthorization',
      `${why}: the connected account must be authorised again`,
    );
  }
}
