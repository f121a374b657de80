import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  randomUUID,
  timingSafeEqual,
} from 'node:crypto';
import type { RedisClient } from '@toolplane/redis';

/**
 * The `requestState` of a 2026-07-28 call of a tool marked `confirm` (ADR 0038, "The request state"): an
 * authenticated value the client carries between rounds, so that the stateless edges need to keep nothing while a
 * person decides. Each state is an HMAC-SHA256 over what it claims, under a key every edge of the deployment shares
 * (kept in Redis, made once by the first edge that needs it): a client cannot forge one, and cannot turn an answer
 * to one question into the answer to another. A state names
 *
 * - what it is: `asked` (the edge asked the person; the retry carries the answer) or `ok` (the person accepted; a
 *   later round of an external MCP tool asking for input of its own, whose state travels inside as `u`);
 * - what it is for: the digest of the server, the tool and the exact arguments (`argumentsDigest`);
 * - who it is for: the caller's credential and the person it acts for (`callerBinding`);
 * - until when (`x`, epoch ms), and a nonce spent in Redis the first time the state is used (`spend`): a state works
 *   once.
 */

const PREFIX = 'tp-confirm.';

type ConfirmStage = 'asked' | 'ok';

/** What a state claims. */
export interface ConfirmClaims {
  readonly stage: ConfirmStage;
  /** `argumentsDigest(server, tool, arguments)`. */
  readonly digest: string;
  /** `callerBinding(...)` of the caller it was made for. */
  readonly caller: string;
  /** Epoch ms after which it is refused. */
  readonly expiresAt: number;
  readonly nonce: string;
  /** An `ok` state's external server's own state, relayed inside. */
  readonly upstream?: string | undefined;
}

/** Why a state that claims to be ours is refused. */
type StateRefusal = 'malformed' | 'forged' | 'expired';

export type OpenedState =
  { readonly ok: true; readonly claims: ConfirmClaims } | { readonly ok: false; readonly reason: StateRefusal };

/** Whether a `requestState` claims to be a confirmation's (the edge's own, never relayed to an external server). */
export const isConfirmState = (raw: unknown): raw is string => typeof raw === 'string' && raw.startsWith(PREFIX);

/** Who a state is for: the caller's credential (key id, or OAuth subject) and the person it acts for. */
export function callerBinding(clientId: string, userId: string | undefined): string {
  return JSON.stringify([clientId, userId ?? null]);
}

interface Wire {
  v: 1;
  s: ConfirmStage;
  d: string;
  c: string;
  x: number;
  n: string;
  u?: string;
}

function wireOf(raw: string): Wire | undefined {
  try {
    const w = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<Wire> | null;
    if (
      w?.v !== 1 ||
      (w.s !== 'asked' && w.s !== 'ok') ||
      typeof w.d !== 'string' ||
      typeof w.c !== 'string' ||
      typeof w.x !== 'number' ||
      !Number.isFinite(w.x) ||
      typeof w.n !== 'string' ||
      (w.u !== undefined && typeof w.u !== 'string')
    )
      return undefined;
    return w as Wire;
  } catch {
    return undefined;
  }
}

/** The external server's own state inside one of ours, read without checking (`upstreamRequestState`). */
export function relayedState(raw: string): string | undefined {
  const rest = raw.slice(PREFIX.length);
  const dot = rest.indexOf('.');
  return dot > 0 ? wireOf(rest.slice(0, dot))?.u : undefined;
}

/** The shared key's source: Redis in a deployment, a fixed key in unit tests. */
export interface StateKeySource {
  /** The key (made once if none exists yet). */
  get(): Promise<Buffer>;
}

/** The deployment's key in Redis: the first edge that needs one makes it (`SET NX`); every edge reads the same. */
export class RedisStateKey implements StateKeySource {
  private readonly redis: RedisClient;
  private readonly key: string;

  constructor(redis: RedisClient, key: string) {
    this.redis = redis;
    this.key = key;
  }

  async get(): Promise<Buffer> {
    await this.redis.set(this.key, randomBytes(32).toString('base64url'), 'NX');
    const value = await this.redis.get(this.key);
    if (!value) throw new Error('the confirmation state key could not be read from Redis');
    return Buffer.from(value, 'base64url');
  }
}

/** Remembers that a nonce was used, until its state expires; true only the first time. */
export type NonceSpender = (nonce: string, expiresAt: number) => Promise<boolean>;

export function redisNonceSpender(redis: RedisClient, key: (nonce: string) => string): NonceSpender {
  return async (nonce, expiresAt) =>
    (await redis.set(key(nonce), '1', 'PX', Math.max(1000, expiresAt - Date.now()), 'NX')) === 'OK';
}

/** How long a key read stays trusted before a state that does not verify makes the edge read it again. */
const REREAD_AFTER_MS = 5_000;

/** Seals and opens confirmation states, and spends their nonces (ADR 0038). */
export class ConfirmStates {
  private readonly source: StateKeySource;
  private readonly spender: NonceSpender;
  private key: Promise<Buffer> | undefined;
  private readAt = 0;

  constructor(source: StateKeySource, spender: NonceSpender) {
    this.source = source;
    this.spender = spender;
  }

  private currentKey(): Promise<Buffer> {
    if (!this.key) {
      this.readAt = Date.now();
      this.key = this.source.get().catch((err: unknown) => {
        this.key = undefined;
        throw err;
      });
    }
    return this.key;
  }

  /** A new state for these claims (a fresh nonce). */
  async seal(claims: Omit<ConfirmClaims, 'nonce'>): Promise<string> {
    const wire: Wire = {
      v: 1,
      s: claims.stage,
      d: claims.digest,
      c: claims.caller,
      x: claims.expiresAt,
      n: randomUUID(),
      ...(claims.upstream !== undefined ? { u: claims.upstream } : {}),
    };
    const body = Buffer.from(JSON.stringify(wire)).toString('base64url');
    return `${PREFIX}${body}.${mac(await this.currentKey(), body)}`;
  }

  /** A state read and checked: its MAC under the deployment's key, and its expiry. */
  async open(raw: string, now = Date.now()): Promise<OpenedState> {
    if (!raw.startsWith(PREFIX)) return { ok: false, reason: 'malformed' };
    const rest = raw.slice(PREFIX.length);
    const dot = rest.indexOf('.');
    const wire = dot > 0 ? wireOf(rest.slice(0, dot)) : undefined;
    if (!wire) return { ok: false, reason: 'malformed' };
    const body = rest.slice(0, dot);
    const given = Buffer.from(rest.slice(dot + 1), 'base64url');
    if (!(await this.verifies(body, given))) return { ok: false, reason: 'forged' };
    if (wire.x <= now) return { ok: false, reason: 'expired' };
    return {
      ok: true,
      claims: { stage: wire.s, digest: wire.d, caller: wire.c, expiresAt: wire.x, nonce: wire.n, upstream: wire.u },
    };
  }

  /** Uses a state up: true the first time, false for a replay. */
  spend(claims: Pick<ConfirmClaims, 'nonce' | 'expiresAt'>): Promise<boolean> {
    return this.spender(claims.nonce, claims.expiresAt);
  }

  /**
   * A value sealed for `purpose` (`<purpose>.<iv>.<ciphertext>.<tag>`): encrypted and authenticated with AES-256-GCM
   * under a key derived (HKDF) from the deployment's key and the purpose, so a client can neither read nor change it,
   * and a value sealed for one purpose never opens for another.
   */
  async sealValue(purpose: string, value: unknown): Promise<string> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', derived(await this.currentKey(), purpose), iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return [purpose, iv, body, cipher.getAuthTag()]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  /** A value `sealValue` made for `purpose`; undefined when it is not one (altered, forged, another purpose's). */
  async openValue(purpose: string, raw: string): Promise<unknown> {
    const parts = raw.split('.');
    if (parts.length !== 4 || parts[0] !== purpose) return undefined;
    const [iv, body, tag] = parts.slice(1).map((p) => Buffer.from(p, 'base64url'));
    const open = (key: Buffer) => {
      try {
        const decipher = createDecipheriv('aes-256-gcm', derived(key, purpose), iv!, { authTagLength: 16 });
        decipher.setAuthTag(tag!);
        return JSON.parse(Buffer.concat([decipher.update(body!), decipher.final()]).toString('utf8')) as unknown;
      } catch {
        return undefined;
      }
    };
    const value = open(await this.currentKey());
    if (value !== undefined || Date.now() - this.readAt < REREAD_AFTER_MS) return value;
    // The key may have been made anew (Redis lost its data): read it again before refusing.
    this.key = undefined;
    return open(await this.currentKey());
  }

  private async verifies(body: string, given: Buffer): Promise<boolean> {
    if (equal(mac(await this.currentKey(), body), given)) return true;
    // The key may have been made anew (Redis lost its data): read it again, now and then, before refusing.
    if (Date.now() - this.readAt < REREAD_AFTER_MS) return false;
    this.key = undefined;
    return equal(mac(await this.currentKey(), body), given);
  }
}

const derived = (key: Buffer, purpose: string) =>
  Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `toolplane ${purpose}`, 32));

const mac = (key: Buffer, body: string) => createHmac('sha256', key).update(body).digest('base64url');

function equal(expected: string, given: Buffer): boolean {
  const e = Buffer.from(expected, 'base64url');
  return e.length === given.length && timingSafeEqual(e, given);
}
