import { apiKeyScopes, tokenScopes } from '@toolplane/contracts';
import { dpopChallenge, senderRefusal, type ProofChecker } from '@toolplane/dpop';
import { AuthError, TransientError } from '@toolplane/errors';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { Db } from '../db/client.ts';
import { isUuid } from '../db/ids.ts';
import { managementApiScopes, type BearerVerifier, type Caller, type PresentedToken } from './auth.ts';
import { groupsOf, rolesOf, type RoleMappingSettings } from './roles.ts';

export interface ManagementOAuthConfig {
  /** The issuer (`iss`) of the access tokens accepted. */
  issuer: string;
  jwksUrl: string;
  /** What the tokens' `aud` must name: this control plane at the issuer. */
  audience: string;
  /** The claim holding the id of the workspace the token acts on. */
  workspaceClaim: string;
  /** The claim listing the user's groups (approvers by group); default `groups`. */
  groupsClaim?: string | undefined;
  /** `<prefix>management` (or `audit`, `approve`) is required; `<prefix><scope>` grants each API-key scope. */
  scopePrefix: string;
}

/** A token refused for its sender constraint (RFC 9449): 401 `auth.invalid_token` with a `DPoP` challenge. */
class SenderRefusal extends AuthError {
  readonly challenge: string;
  constructor(message: string, challenge: string) {
    super('auth.invalid_token', message);
    this.challenge = challenge;
  }
}

/** Signature algorithms accepted: asymmetric only (a shared-secret `HS256` or `none` never verifies). */
const algorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

/**
 * Signed-in users on the management API (ADR 0020): OAuth access tokens (JWTs) from the configured issuer,
 * verified against its JWKS, with this control plane as their audience. The issuer decides who acts on which
 * workspace (a claim naming its id, which must exist) and with which powers (scopes named like API-key scopes,
 * `management`, `audit` or `approve` required); a token never acts outside its workspace and is never restricted
 * to servers. A token bound to a key (`cnf.jkt`) is accepted only as `Authorization: DPoP` with a fresh proof of that
 * key for this request, checked as the edge checks it (`@toolplane/dpop`, ADR 0106, 0109); without `proofs`, bound
 * tokens are refused.
 */
export class ManagementTokenVerifier implements BearerVerifier {
  readonly config: ManagementOAuthConfig;
  private readonly db: Db;
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private readonly proofs: ProofChecker | undefined;

  constructor(config: ManagementOAuthConfig, db: Db, proofs?: ProofChecker) {
    this.config = config;
    this.db = db;
    this.proofs = proofs;
    this.jwks = createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
  }

  /** The caller a bearer token stands for; throws `AuthError` (401 for a token not accepted, 403 for one without powers here). */
  async verify(token: string, presented: PresentedToken = { dpopScheme: false }): Promise<Caller> {
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, this.jwks, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: 30,
      }));
    } catch (err) {
      // The issuer's keys out of reach is an outage (503, retried), not a bad token: nobody is signed out for it.
      if (keysUnavailable(err))
        throw new TransientError(
          'service.unavailable',
          "the OAuth issuer's signing keys could not be fetched; retry later",
          {},
          { cause: err },
        );
      throw new AuthError('auth.invalid_token', rejection(err));
    }
    await this.checkSender(token, claims.cnf, presented);
    const prefix = this.config.scopePrefix;
    const granted = new Set(tokenScopes(claims));
    const scopes: string[] = apiKeyScopes.filter((s) => granted.has(`${prefix}${s}`));
    if (!managementApiScopes.some((s) => scopes.includes(s)))
      throw new AuthError('auth.forbidden', `the access token has no "${prefix}management" scope`);
    const claim = this.config.workspaceClaim;
    const workspaceId = claims[claim];
    if (typeof workspaceId !== 'string' || !isUuid(workspaceId))
      throw new AuthError('auth.forbidden', `the access token's "${claim}" claim names no workspace id`);
    const workspace = await this.db.workspace.findUnique({
      where: { id: workspaceId },
      select: { id: true, roleMapping: { select: { groupsClaim: true, assignments: true } } },
    });
    if (!workspace) throw new AuthError('auth.forbidden', `the access token's workspace ${workspaceId} does not exist`);
    const subject = String(claims.sub);
    const groupsClaim = this.config.groupsClaim ?? 'groups';
    const groups = groupsOf(claims[groupsClaim]);
    const mapping = (workspace.roleMapping ?? null) as RoleMappingSettings | null;
    const scimGroups = mapping?.assignments.some((a) => 'group' in a)
      ? await scimGroupsOfPerson(this.db, workspaceId, subject, claims)
      : [];
    const roles = rolesOf(mapping, { subject, claims, scimGroups }, groupsClaim);
    // `exp` is required (and a number, or jose refuses the token): long-lived answers end then.
    return {
      workspaceId,
      subject,
      principal: `user:${subject}`,
      scopes,
      roles,
      expiresAt: Number(claims.exp) * 1000,
      ...(groups.length > 0 ? { groups } : {}),
    };
  }

  /** The token's sender constraint: a bound token needs the DPoP scheme and a valid proof of its key (RFC 9449). */
  private async checkSender(token: string, cnf: unknown, presented: PresentedToken): Promise<void> {
    const request = presented.request ?? { proof: undefined, method: '', url: '' };
    const refusal = await senderRefusal(this.proofs, {
      ...request,
      cnf,
      dpopScheme: presented.dpopScheme,
      accessToken: token,
    });
    if (refusal) throw new SenderRefusal(`${refusal.message}.`, dpopChallenge(refusal));
  }
}

/**
 * The SCIM groups (ADR 0062) of the person a token is for: the active SCIM user whose `externalId` is the token's
 * subject (Okta's user id), or whose `userName` is its subject or its `preferred_username` (Entra's UPN). A
 * deactivated person's groups count for nothing. Role mappings name these groups as they name the groups claim's.
 */
export async function scimGroupsOfPerson(
  db: Db,
  workspaceId: string,
  subject: string,
  claims: Record<string, unknown>,
): Promise<string[]> {
  const names = [subject, claims.preferred_username].filter((n): n is string => typeof n === 'string' && n !== '');
  const people = await db.externalUser.findMany({
    where: {
      workspaceId,
      active: true,
      OR: [{ externalId: subject }, ...names.map((name) => ({ name: { equals: name, mode: 'insensitive' as const } }))],
    },
    select: { groups: { select: { group: { select: { displayName: true } } } } },
  });
  return people.flatMap((p) => p.groups.map((g) => g.group.displayName));
}

/** Why a token was not accepted, without echoing its content. */
function rejection(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the access token has expired';
  if (err instanceof errors.JWTClaimValidationFailed)
    return `the access token's "${err.claim}" claim is not accepted here`;
  if (err instanceof errors.JOSEAlgNotAllowed) return "the access token's signature algorithm is not accepted";
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWSSignatureVerificationFailed)
    return "the access token's signature does not verify with the issuer's keys";
  return 'the access token could not be verified';
}

/** A JWKS that could not be fetched or read (timeout, refused connection, not 200, not a key set). */
function keysUnavailable(err: unknown): boolean {
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return true;
  if (!(err instanceof errors.JOSEError)) return true;
  return err.code === 'ERR_JOSE_GENERIC' && /JSON Web Key Set/i.test(err.message);
}

/** What the dashboard needs of the issuer to sign a user in (RFC 8414 / OpenID Connect Discovery metadata). */
export interface AuthorizationEndpoints {
  authorization_endpoint: string;
  token_endpoint: string;
}

/**
 * The issuer's endpoints, discovered (RFC 8414 `/.well-known/oauth-authorization-server`, then OpenID Connect's
 * `/.well-known/openid-configuration`) when first needed, kept 10 minutes; a failure is retried after 10 seconds.
 * The metadata must name the configured issuer, and endpoints must be https (http only on a loopback address).
 */
export class AuthorizationServerDiscovery {
  private readonly issuer: string;
  private cached: { at: number; endpoints?: AuthorizationEndpoints; error?: string } | undefined;
  private pending: Promise<AuthorizationEndpoints> | undefined;

  constructor(issuer: string) {
    this.issuer = issuer;
  }

  /** The endpoints, or a thrown `Error` saying why they are unknown. */
  async endpoints(now = Date.now()): Promise<AuthorizationEndpoints> {
    const c = this.cached;
    if (c?.endpoints && now - c.at < 10 * 60_000) return c.endpoints;
    if (c?.error && now - c.at < 10_000) throw new Error(c.error);
    this.pending ??= this.discover().then(
      (endpoints) => {
        this.cached = { at: Date.now(), endpoints };
        return endpoints;
      },
      (err: unknown) => {
        this.cached = { at: Date.now(), error: err instanceof Error ? err.message : String(err) };
        throw err;
      },
    );
    try {
      return await this.pending;
    } finally {
      this.pending = undefined;
    }
  }

  private async discover(): Promise<AuthorizationEndpoints> {
    const issuer = new URL(this.issuer);
    const path = issuer.pathname.replace(/\/+$/, '');
    const candidates = [
      `${issuer.origin}/.well-known/oauth-authorization-server${path}`,
      `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`,
    ];
    const failures: string[] = [];
    for (const url of candidates) {
      let metadata: Record<string, unknown>;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5_000), headers: { accept: 'application/json' } });
        if (!res.ok) {
          failures.push(`${url}: HTTP ${res.status}`);
          continue;
        }
        metadata = (await res.json()) as Record<string, unknown>;
      } catch (err) {
        failures.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      return checkedEndpoints(metadata, this.issuer, url);
    }
    throw new Error(`the OAuth issuer's metadata could not be read (${failures.join('; ')})`);
  }
}

function checkedEndpoints(metadata: Record<string, unknown>, issuer: string, url: string): AuthorizationEndpoints {
  if (metadata.issuer !== issuer) throw new Error(`${url} names another issuer (${String(metadata.issuer)})`);
  const methods = metadata.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256'))
    throw new Error(`${url}: the issuer does not support PKCE S256`);
  const endpoint = (name: 'authorization_endpoint' | 'token_endpoint') => {
    const value = metadata[name];
    if (typeof value !== 'string' || !URL.canParse(value)) throw new Error(`${url} has no valid ${name}`);
    const u = new URL(value);
    const loopback = u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]';
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback))
      throw new Error(`${url}: the ${name} must be https`);
    return u.href;
  };
  return { authorization_endpoint: endpoint('authorization_endpoint'), token_endpoint: endpoint('token_endpoint') };
}
