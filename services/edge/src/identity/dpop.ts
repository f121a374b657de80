import { createHash } from 'node:crypto';
import type { RedisClient } from '@toolplane/redis';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { readState } from '../state/runtime-state.ts';

/**
 * DPoP proofs (RFC 9449) for narrowed tokens (ADR 0084): a client that sends a proof with its token exchange gets a
 * token bound to its key (`cnf.jkt`, the RFC 7638 SHA-256 thumbprint of the proof's JWK), and each request with that
 * token must carry a fresh proof of the same key. The checks are §4.3's: one proof, `typ: dpop+jwt`, an asymmetric
 * algorithm, a public JWK in the header, a valid signature by it, `htm` and `htu` of this request, `iat` within the
 * window, `ath` the hash of the token presented, and a `jti` never seen before by any edge (kept in Redis for twice
 * the window, so a proof cannot be replayed while its `iat` is acceptable). JWS and JWK work is `jose`'s.
 */

/** The asymmetric algorithms a proof may use (never `none`, never a MAC). */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'PS256', 'PS384', 'PS512'];
/** How far a proof's `iat` may lie from the edge's clock, either way (seconds). */
const WINDOW_SECONDS = 300;

/** A refused proof: `invalid_dpop_proof` (the proof), `invalid_token` (a bound token without its key's proof). */
export class DpopRefusal extends Error {
  readonly error: 'invalid_dpop_proof' | 'invalid_token';
  constructor(error: 'invalid_dpop_proof' | 'invalid_token', message: string) {
    super(message);
    this.error = error;
  }
}

/** The `WWW-Authenticate` challenge of a refusal (RFC 9449 §7.1). */
export function dpopChallenge(refusal?: DpopRefusal): string {
  const algs = `algs="${DPOP_ALGORITHMS.join(' ')}"`;
  if (!refusal) return `DPoP ${algs}`;
  const description = refusal.message.replace(/[^\x20-\x7e]|["\\]/g, '');
  return `DPoP error="${refusal.error}", error_description="${description}", ${algs}`;
}

/**
 * What a token's `cnf` claim (RFC 7800) binds it to: nothing, a DPoP key (`jkt`, RFC 9449 §6), or a binding the edge
 * does not check (a `cnf` without `jkt`, such as mTLS's `x5t#S256`), which callers refuse.
 */
export function tokenBinding(cnf: unknown): { kind: 'none' } | { kind: 'dpop'; jkt: string } | { kind: 'unchecked' } {
  if (cnf === undefined || cnf === null) return { kind: 'none' };
  const jkt = typeof cnf === 'object' ? (cnf as { jkt?: unknown }).jkt : undefined;
  return typeof jkt === 'string' ? { kind: 'dpop', jkt } : { kind: 'unchecked' };
}

/** What a proof is checked against: the request it came with, and the access token it goes with (if any). */
export interface ProofRequest {
  /** The `DPoP` header as received (absent: no proof). */
  readonly proof: string | undefined;
  readonly method: string;
  /** The request's URL as the client called it (query and fragment are ignored). */
  readonly url: string;
  /** The access token presented with it (MCP requests): the proof's `ath` must be its hash. */
  readonly accessToken?: string | undefined;
}

export type ProofChecker = Pick<DpopProofs, 'verify'>;

export class DpopProofs {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  /** Checks a proof (refusing with `DpopRefusal`) and answers its key's thumbprint (`jkt`). */
  async verify(request: ProofRequest): Promise<string> {
    const { proof } = request;
    if (!proof) throw new DpopRefusal('invalid_dpop_proof', 'A DPoP proof is required');
    if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(proof))
      throw new DpopRefusal('invalid_dpop_proof', 'The DPoP header must hold exactly one compact JWS');
    const jwk = await proofKey(proof);
    const payload = await signedClaims(proof, jwk);
    checkClaims(payload, request);
    const jkt = await calculateJwkThumbprint(jwk, 'sha256');
    await this.spend(jkt, payload.jti as string);
    return jkt;
  }

  /** Records the proof's `jti` once across every edge: seen before, refused. */
  private async spend(jkt: string, jti: string): Promise<void> {
    const id = createHash('sha256').update(`${jkt}\n${jti}`).digest('hex');
    const set = await readState(() =>
      this.redis.set(`${this.prefix}:dpop:jti:${id}`, '1', 'EX', WINDOW_SECONDS * 2, 'NX'),
    );
    if (set !== 'OK') throw new DpopRefusal('invalid_dpop_proof', 'The DPoP proof was used before (jti)');
  }
}

/** The public JWK of the proof's header, with the header's own checks (`typ`, `alg`). */
async function proofKey(proof: string): Promise<JWK> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw new DpopRefusal('invalid_dpop_proof', 'The DPoP proof is not a JWS');
  }
  if (header.typ !== 'dpop+jwt') throw new DpopRefusal('invalid_dpop_proof', 'The DPoP proof: typ must be dpop+jwt');
  if (typeof header.alg !== 'string' || !DPOP_ALGORITHMS.includes(header.alg))
    throw new DpopRefusal('invalid_dpop_proof', 'The DPoP proof: alg is not an accepted asymmetric algorithm');
  const jwk = header.jwk as JWK | undefined;
  if (!jwk || typeof jwk !== 'object') throw new DpopRefusal('invalid_dpop_proof', 'The DPoP proof: header has no jwk');
  if ('d' in jwk || 'k' in jwk || 'p' in jwk)
    throw new DpopRefusal('invalid_dpop_proof', 'The DPoP proof: jwk must be a public key');
  return jwk;
}

/** The proof's claims, its signature verified by the key of its own header. */
async function signedClaims(proof: string, jwk: JWK): Promise<Record<string, unknown>> {
  try {
    const alg = decodeProtectedHeader(proof).alg!;
    const key = await importJWK(jwk, alg);
    const { payload } = await jwtVerify(proof, key, { typ: 'dpop+jwt', algorithms: [alg] });
    return payload as Record<string, unknown>;
  } catch {
    throw new DpopRefusal('invalid_dpop_proof', 'The DPoP proof: signature does not verify with its jwk');
  }
}

function checkClaims(payload: Record<string, unknown>, request: ProofRequest): void {
  const refuse = (what: string) => new DpopRefusal('invalid_dpop_proof', `The DPoP proof: ${what}`);
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256)
    throw refuse('jti is missing');
  if (payload.htm !== request.method) throw refuse('htm is not this request method');
  if (typeof payload.htu !== 'string' || !sameTarget(payload.htu, request.url))
    throw refuse('htu is not this request URL');
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > WINDOW_SECONDS)
    throw refuse('iat is outside the accepted window');
  if (request.accessToken !== undefined) {
    if (payload.ath !== accessTokenHash(request.accessToken)) throw refuse('ath is not the hash of the access token');
  } else if (payload.ath !== undefined) throw refuse('ath is set but no access token goes with it');
}

/** `ath` (RFC 9449 §4.2): the base64url SHA-256 of the access token's ASCII. */
function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

/** RFC 9449 §4.3 item 9: the URIs compared without query and fragment, after syntax-based normalisation. */
function sameTarget(htu: string, url: string): boolean {
  try {
    const a = new URL(htu);
    const b = new URL(url);
    return a.origin === b.origin && a.pathname === b.pathname;
  } catch {
    return false;
  }
}

/** The URL a client called, as its proof's `htu` names it: `PUBLIC_URL` (when set) or the Host it reached, and the path. */
export function requestUrl(
  req: { protocol: string; originalUrl?: string; url: string; header(name: string): string | undefined },
  publicUrl: string | undefined,
): string {
  const path = (req.originalUrl ?? req.url).split(/[?#]/, 1)[0]!;
  const base = publicUrl ? publicUrl.replace(/\/+$/, '') : `${req.protocol}://${req.header('host') ?? 'localhost'}`;
  return base + path;
}
