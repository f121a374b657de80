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

/** A credential kept by something long-lived that acts for its caller (an event subscription, a task's job). */
export interface StandingCredential {
  workspaceId: string;
  serverId: string;
  /** SHA-256 of the API key (a key's, or a narrowed token's parent key). */
  keyHash?: string | undefined;
  /** A narrowed token's id and its ancestors': any revoked ends it. */
  tokenChain?: string[] | undefined;
  /** Epoch ms: the token's expiry. */
  expiresAt?: number | undefined;
  /** The person it acts for, and their id when it was made. */
  username?: string | undefined;
  userId?: string | undefined;
}

/** How a refusal names the credential: "the API key" of a subscription, "the API key that created it" of a task. */
export interface StandingWords {
  key: string;
  /** The key is no longer published, or revoked. */
  keyGone: string;
  token: string;
  person: (username: string) => string;
  /** A miss while the published state is incomplete throws `SubscriberStateUnavailable` (else it is a verdict). */
  strictState?: boolean;
}

const subscriptionWords: StandingWords = {
  key: 'the API key',
  keyGone: 'the API key was revoked or deleted',
  token: 'the access token',
  person: (u) => `the person "${u}" it acts for is no longer an active external user`,
  strictState: true,
};

/**
 * Key records parsed, by the JSON the control plane published: each delivery of a subscription reads its key's record
 * again, and it is the same text until the key changes. Bounded: cleared past 1,000 texts. Read-only results.
 */
const parsedKeys = new Map<string, ApiKeyRecord | undefined>();

function keyRecord(raw: string): ApiKeyRecord | undefined {
  if (parsedKeys.has(raw)) return parsedKeys.get(raw);
  const parsed = ApiKeyRecord.safeParse(JSON.parse(raw));
  if (parsedKeys.size >= 1_000) parsedKeys.clear();
  parsedKeys.set(raw, parsed.success ? parsed.data : undefined);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Why a credential kept by something long-lived may no longer act ("every judgement follows its
 * credential"), judged as a new request of its caller's would be, from what Redis holds now: the API key still
 * published, not revoked, with the `runtime` scope and still reaching the server; a narrowed token not revoked (nor any
 * token of its chain); a token not expired; the person it acts for still that workspace's active person. Undefined: it
 * stands. Three reads at most (an `EXISTS` per token of a chain). One judgement for event subscriptions
 * (`subscriberRefusal`) and tasks' jobs (the worker's `taskCallerCheck`).
 */
export async function credentialRefusal(
  redis: Client,
  prefix: string,
  c: StandingCredential,
  { now, words }: { now: number; words: StandingWords },
): Promise<string | undefined> {
  if (c.expiresAt !== undefined && c.expiresAt <= now) return `${words.token} expired`;
  const keys = redisKeys(prefix);
  const { username } = c;
  const [key, person, revoked] = await Promise.all([
    c.keyHash !== undefined ? redis.hget(keys.apiKeys, c.keyHash) : undefined,
    username !== undefined ? redis.hget(keys.users(c.workspaceId), username) : undefined,
    Promise.all((c.tokenChain ?? []).map((jti) => redis.exists(delegationKeys(prefix).revoked(jti)))),
  ]);
  if (revoked.some((n) => n > 0)) return 'the narrowed token was revoked';
  const missing = (c.keyHash !== undefined && key === null) || (username !== undefined && person === null);
  if (words.strictState && missing && (await redis.exists(keys.runtimeState)) === 0)
    throw new SubscriberStateUnavailable();
  if (c.keyHash !== undefined) {
    const parsed = key ? keyRecord(key) : undefined;
    const record = parsed && !parsed.revoked ? parsed : undefined;
    if (!record) return words.keyGone;
    if (!record.scopes.includes('runtime')) return `${words.key} has no "runtime" scope`;
    if (record.serverIds && !record.serverIds.includes(c.serverId))
      return `${words.key} is limited to other MCP servers`;
  }
  if (username !== undefined && (person === null || person !== c.userId)) return words.person(username);
  return undefined;
}

/**
 * Why a subscription's subscriber may no longer be given anything (docs/events.md "A subscription follows its
 * credential"): `credentialRefusal` of the credential it was made with. An anonymous caller's stands; one made before
 * subscriptions kept their credential ends. A miss while the control plane's published state is incomplete throws
 * `SubscriberStateUnavailable`.
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
  const { workspaceId, serverId } = sub;
  const { username } = principal;
  return credentialRefusal(
    redis,
    prefix,
    { ...credential, workspaceId, serverId, username },
    { now, words: subscriptionWords },
  );
}

/**
 * Subscribers judged to stand, kept between deliveries (ADR 0103): a delivery of a subscription whose subscriber stood
 * at its last judgement reads nothing from Redis until something that may end it is announced (`forget`: a key's
 * change on `apiKeyChanged`, a narrowed token revoked or a person gone on `standingChanged`, the whole state published
 * again under a new epoch on `stateRepublished`) or may have gone unheard (the pub/sub connection lost: nothing is
 * kept while `listening` says no, and everything is forgotten when it is back). A token's expiry is read from the
 * subscription at every delivery. Refusals are never kept: a refused subscription is removed.
 */
export class SubscriberStandings {
  readonly #stood = new Set<string>();
  readonly #listening: () => boolean;
  readonly #max: number;
  /** Moved by `forget`: a judgement made across an announcement is not kept. */
  #generation = 0;

  constructor(opts: { listening: () => boolean; max?: number }) {
    this.#listening = opts.listening;
    this.#max = opts.max ?? 10_000;
  }

  /** Every subscriber is judged again at its next delivery. */
  forget(): void {
    this.#generation++;
    this.#stood.clear();
  }

  /** How many subscribers stand without a read (for tests and logs). */
  get size(): number {
    return this.#stood.size;
  }

  /** `subscriberRefusal`, or nothing read when the subscriber stood at its last judgement and nothing was announced. */
  async refusal(redis: Client, prefix: string, sub: EventSubscription, now: number): Promise<string | undefined> {
    const expiresAt = sub.credential?.expiresAt;
    const live = expiresAt === undefined || expiresAt > now;
    // The subscription's id names its principal; the credential it keeps (key hash, token chain, person's id) too.
    const id = `${sub.id}:${JSON.stringify(sub.credential ?? null)}`;
    const listening = this.#listening();
    if (live && listening && this.#stood.has(id)) return undefined;
    const generation = this.#generation;
    const refused = await subscriberRefusal(redis, prefix, sub, now);
    if (refused === undefined && listening && generation === this.#generation && this.#listening()) {
      if (this.#stood.size >= this.#max) this.#stood.clear();
      this.#stood.add(id);
    }
    return refused;
  }
}

/** A subscribed pub/sub connection, as `announcedStandings` hears it. */
interface Announcements {
  readonly status: string;
  on(event: 'message' | 'close' | 'ready', listener: (channel: string) => void): unknown;
}

/**
 * Standings kept while `events` (a pub/sub connection subscribed to `announced`) hears the changes that may end one (a
 * key, a narrowed token, a person, the whole state republished): forgotten at each such announcement, and when the
 * connection drops or comes back (what was announced meanwhile went unheard). ADR 0103: the worker's fan-out and
 * webhooks, and the edge's `events/stream`, each round.
 */
export function announcedStandings(events: Announcements, announced: readonly string[]): SubscriberStandings {
  const standings = new SubscriberStandings({ listening: () => events.status === 'ready' });
  const channels = new Set(announced);
  events.on('message', (channel) => {
    if (channels.has(channel)) standings.forget();
  });
  events.on('close', () => standings.forget());
  events.on('ready', () => standings.forget());
  return standings;
}
