import { hash, randomBytes, randomUUID } from 'node:crypto';
import {
  DELEGATED_TOKEN_PREFIX,
  DelegatedToken,
  delegationActors,
  delegationKeys,
  redisKeys,
  type DelegationLimit,
  type DelegationParent,
} from '@toolplane/contracts';
import { DelegationBudget } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import { restrictCatalog } from '../governance/access.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';
import type { StreamCredential } from '../protocol/open-streams.ts';
import { readState } from '../state/runtime-state.ts';

/**
 * Narrowed tokens (ADR 0084) in Redis: each token's record (`DelegatedToken`) under the SHA-256 of the token, expiring
 * with it, so that every edge reads the same; the token itself is never stored. Calls of tokens with a limit are
 * counted by `DelegationBudget` (@toolplane/queue), which the worker's steps and the events' fan-out spend too.
 */
export class DelegatedTokens {
  private readonly redis: RedisClient;
  private readonly keys: ReturnType<typeof delegationKeys>;
  /** The chain's limits on calls: the counters the worker's steps and the events' fan-out spend too. */
  private readonly budget: DelegationBudget;
  private readonly standingChanged: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.keys = delegationKeys(prefix);
    this.budget = new DelegationBudget(redis, prefix);
    this.standingChanged = redisKeys(prefix).standingChanged;
  }

  /** Whether a bearer credential is a narrowed token (else an OAuth access token). */
  isToken(bearer: string): boolean {
    return bearer.startsWith(DELEGATED_TOKEN_PREFIX);
  }

  /**
   * The record of a live token; null for an unknown, malformed, expired or revoked one (itself or a token of its chain,
   * RFC 7009). Redis unreachable: `state.unavailable`.
   */
  async read(token: string): Promise<DelegatedToken | null> {
    const raw = await readState(() => this.redis.get(this.keys.token(tokenHash(token))));
    if (!raw) return null;
    const parsed = DelegatedToken.safeParse(JSON.parse(raw));
    if (!parsed.success || parsed.data.exp * 1000 <= Date.now()) return null;
    // One key per token of the chain (each in its own slot on a cluster), asked together.
    const revoked = await readState(() =>
      Promise.all(parsed.data.chain.map((jti) => this.redis.exists(this.keys.revoked(jti)))),
    );
    return revoked.some((n) => n > 0) ? null : parsed.data;
  }

  /**
   * Revokes a token and, through their chains, every token narrowed from it, on every edge (RFC 7009); announced, so
   * that every edge ends the open streams of the token and of those narrowed from it (ADR 0095).
   */
  async revoke(token: DelegatedToken): Promise<void> {
    await readState(() => this.redis.set(this.keys.revoked(token.jti), '1', 'EXAT', token.exp + 60));
    await this.redis.publish(this.standingChanged, `token:${token.jti}`);
  }

  /** Stores a new token's record (everything but its id, made here) and answers the token. */
  async issue(claims: Omit<DelegatedToken, 'jti' | 'chain' | 'limits'>, ancestry: Ancestry): Promise<Issued> {
    const jti = randomUUID();
    const token = DELEGATED_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const limits =
      ancestry.calls === undefined ? ancestry.limits : [...ancestry.limits, { jti, calls: ancestry.calls }];
    const record: DelegatedToken = { ...claims, jti, chain: [...ancestry.chain, jti], limits: [...limits] };
    const ttlMs = Math.max(1, record.exp * 1000 - Date.now());
    await readState(() => this.redis.set(this.keys.token(tokenHash(token)), JSON.stringify(record), 'PX', ttlMs));
    return { token, record };
  }

  /**
   * Charges one call to every limit of a token's chain: false (nothing charged) when one of them has no room left.
   * Redis unreachable: `state.unavailable`.
   */
  charge(limits: readonly DelegationLimit[], exp: number): Promise<boolean> {
    return readState(() => this.budget.charge(limits, exp));
  }

  /** Gives back a charge (the call was refused later, or never queued). */
  refund(limits: readonly DelegationLimit[]): Promise<void> {
    return this.budget.refund(limits);
  }

  /** Whether a limit of the chain has no room for another call (nothing charged). */
  spent(limits: readonly DelegationLimit[]): Promise<boolean> {
    return readState(() => this.budget.spent(limits));
  }
}

/** What authentication and calls use of the store (fakes in authenticate.test.ts). */
export type DelegationStore = Pick<DelegatedTokens, 'isToken' | 'read' | 'charge' | 'refund' | 'spent'>;

/** What a new token inherits from the one it was narrowed from (nothing, for a key's first token). */
export interface Ancestry {
  readonly chain: readonly string[];
  readonly limits: readonly DelegationLimit[];
  /** Its own limit on calls, if asked for. */
  readonly calls?: number | undefined;
}

export interface Issued {
  readonly token: string;
  readonly record: DelegatedToken;
}

const tokenHash = (token: string) => hash('sha256', token, 'hex');

/** What a call made with a narrowed token carries (the caller's, every call's): the token's rights and its chain. */
export interface CallDelegation {
  readonly token: DelegatedToken;
  /** Its actors, root first (the key, then each holder): named in records and audit events. */
  readonly actors: readonly string[];
  /** Charges a call to the chain's limits: false when one has no room. */
  charge(): Promise<boolean>;
  refund(): Promise<void>;
  /**
   * Charges a call to the chain's limits other than its task grants' budgets (ADR 0113: a call past a grant's budget
   * held for its person still spends the token's own calls): false when one has no room. `refundBeyondGrants` gives
   * it back.
   */
  chargeBeyondGrants(): Promise<boolean>;
  refundBeyondGrants(): Promise<void>;
  /** Whether the chain's calls are spent (nothing charged): its event subscriptions are refused then. */
  spent(): Promise<boolean>;
}

/**
 * The delegation rule's caller facts (`pipeline/caller-facts.ts`): the narrowed token the caller presented, its rights
 * and chain; undefined for every other caller (the delegation stage then costs one test).
 */
export const delegationFacts = (who: { readonly narrowed: CallDelegation | undefined }): CallDelegation | undefined =>
  who.narrowed;

function callDelegation(store: DelegationStore, token: DelegatedToken): CallDelegation {
  const beyondGrants = token.limits.filter((l) => !l.jti.startsWith('grant:'));
  return {
    token,
    actors: delegationActors(token),
    charge: () => store.charge(token.limits, token.exp),
    refund: () => store.refund(token.limits),
    chargeBeyondGrants: () => store.charge(beyondGrants, token.exp),
    refundBeyondGrants: () => store.refund(beyondGrants),
    spent: () => store.spent(token.limits),
  };
}

/** How `delegatedCaller` authenticates the token's parent and refuses, as authenticate.ts does for keys and tokens. */
export interface DelegatedCallerOptions<T> {
  readonly serverId: string;
  /** The parent key's caller, by its hash: refuses a revoked or unknown key (its refusal says it was the parent). */
  keyCaller(keyHash: string): Promise<T>;
  /** An OAuth parent's caller of the token's workspace (verified at the exchange; the chain ends with its expiry). */
  oauthCaller(parent: Extract<DelegationParent, { kind: 'oauth' }>, workspaceId: string): Promise<T>;
  refuse(status: 401 | 403, message: string): Error;
  /** Its sender constraint (a DPoP-bound token's proof, RFC 9449): throws the refusal when the request fails it. */
  sender?(token: DelegatedToken): Promise<void>;
}

/**
 * The caller of a narrowed token: the token read (unknown or expired: 401), the server checked against its servers
 * (403), then its parent API key authenticated as `x-api-key` would be, on every call: a revoked parent fails its
 * children at once, on every edge (the key cache drops it on the control plane's message, as it does for keys). An
 * OAuth parent is its subject, as the exchange verified it.
 */
export async function delegatedCaller<T>(
  store: DelegationStore,
  bearer: string,
  opts: DelegatedCallerOptions<T>,
): Promise<T & { delegation: CallDelegation; credential: StreamCredential }> {
  const token = await store.read(bearer);
  if (!token) throw opts.refuse(401, 'Invalid, expired or revoked narrowed token.');
  if (token.servers && !token.servers.includes(opts.serverId))
    throw opts.refuse(403, `This narrowed token does not reach MCP server ${opts.serverId}.`);
  await opts.sender?.(token);
  const { parent } = token;
  const expiresAt = token.exp * 1000;
  const caller =
    parent.kind === 'key' ? await opts.keyCaller(parent.keyHash) : await opts.oauthCaller(parent, token.workspaceId);
  // A long-lived answer ends with the key, and when the token expires.
  const credential: StreamCredential =
    parent.kind === 'key' ? { kind: 'key', keyHash: parent.keyHash, expiresAt } : { kind: 'token', expiresAt };
  return { ...caller, credential, delegation: callDelegation(store, token) };
}

/** The catalog a narrowed token's caller sees: the parent's view, less the tools the token does not name. */
export function narrowedView(loaded: LoadedCatalog, token: DelegatedToken): LoadedCatalog {
  if (!token.tools) return loaded;
  return restrictCatalog(loaded, new Set(token.tools), `narrowed token ${token.jti}`);
}
