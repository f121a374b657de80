import { randomUUID } from 'node:crypto';
import { decideAccess } from '@toolplane/access';
import type { AuditEventInput, EnterpriseIdpRule, WorkspaceAccess } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { LoadedCatalog } from '../../state/catalogs.ts';
import type { TokenCheck } from '../oauth.ts';
import {
  clientCredentials,
  GrantRefusal,
  grantedScope,
  IdpKeys,
  JWT_BEARER,
  secretMatches,
  unverifiedIdJag,
  verifyIdJag,
  type IdJag,
} from './grant.ts';
import type { SigningKey } from './signing-key.ts';
import { DPOP_ALGORITHMS, DpopRefusal, type ProofChecker, type ProofRequest } from '../dpop.ts';

/** The `typ` of the access tokens the edges issue (RFC 9068). */
const ACCESS_TOKEN_TYP = 'at+jwt';

/** What the authorization server reads: the edge's caches of published state and Redis for single use. */
export interface AuthorizationServerDeps {
  catalogs: { get(serverId: string): Promise<LoadedCatalog | null> };
  accessPolicies: { get(workspaceId: string): Promise<WorkspaceAccess> };
  userId(workspaceId: string, username: string): Promise<string | null>;
  state: { assertComplete(): Promise<void> };
  /** `SET key 1 NX EX seconds`: true when this call set it (the `jti` was never seen). */
  claimOnce(key: string, seconds: number): Promise<boolean>;
  audit?: { add(event: AuditEventInput): void } | undefined;
  /** The edge's budget of unauthenticated requests per address (`UnauthenticatedLimiter`): failed client logins count. */
  limiter?: { blockedFor(address: string): Promise<number>; count(address: string): void } | undefined;
  /** DPoP proofs (RFC 9449 §5): a token request with one gets a token bound to its key; absent: none accepted. */
  dpop?: ProofChecker | undefined;
  log: Logger;
}

/** What the token endpoint reads of the HTTP request besides its form. */
export interface TokenRequest {
  authorization: string | undefined;
  /** The client's address (the budget of failed client logins). */
  address: string;
  /** The `DPoP` header and the method and URL its proof must name (no `accessToken`: none goes with it). */
  dpop: ProofRequest;
}

export interface AuthorizationServerSettings {
  /** The edge's public URL: the issuer, and the base of every MCP server's resource URL. */
  publicUrl: string;
  key: SigningKey;
  tokenTtlSeconds: number;
  clockSkewSeconds: number;
}

/** A token endpoint answer: its status, JSON body and headers. */
export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

/** What a grant established, for its answer and its audit event. */
interface Grant {
  serverId: string;
  workspaceId: string;
  idp: EnterpriseIdpRule;
  idJag: IdJag;
  person: string;
  userId: string;
}

/**
 * Toolplane's authorization server for its MCP servers (ADR 0082, docs/identity.md "Enterprise-managed authorization
 * (ID-JAG)"): RFC 8414 metadata, the JWT bearer grant redeeming ID-JAGs of the workspace's enterprise IdPs, and the
 * access tokens it issues, bound to one server, naming the person, short-lived, signed with the edges' key.
 */
export class EnterpriseAuthorizationServer {
  readonly issuer: string;
  private readonly idpKeys = new IdpKeys();

  private readonly deps: AuthorizationServerDeps;
  private readonly settings: AuthorizationServerSettings;

  constructor(deps: AuthorizationServerDeps, settings: AuthorizationServerSettings) {
    this.deps = deps;
    this.settings = settings;
    this.issuer = settings.publicUrl.replace(/\/+$/, '');
  }

  /** RFC 8414 authorization server metadata (`/.well-known/oauth-authorization-server`), with RFC 9449 §5.1's. */
  metadata() {
    return {
      issuer: this.issuer,
      token_endpoint: `${this.issuer}/oauth/token`,
      jwks_uri: `${this.issuer}/oauth/jwks`,
      grant_types_supported: [JWT_BEARER],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      authorization_grant_profiles_supported: ['urn:ietf:params:oauth:grant-profile:id-jag'],
      response_types_supported: [],
      ...(this.deps.dpop ? { dpop_signing_alg_values_supported: [...DPOP_ALGORITHMS] } : {}),
    };
  }

  jwks() {
    return { keys: [this.settings.key.jwk] };
  }

  /** The resource URL of an MCP server (what an ID-JAG's `resource` and our tokens' `aud` name). */
  resource(serverId: string): string {
    return `${this.issuer}/mcp/${serverId}`;
  }

  /**
   * The token endpoint: a form body, the `Authorization` header and the client's address in, an RFC 6749 answer out.
   * A failed client authentication counts against the address's budget of unauthenticated requests, shared with the
   * MCP endpoints; past it the address gets 429 until its window ends (the specification's rate limiting). A request
   * carrying a DPoP proof gets a token bound to the proof's key (`cnf.jkt`, `token_type: DPoP`; RFC 9449 §5), which
   * the MCP endpoints then accept only with proofs of that key.
   */
  async token(form: Record<string, unknown>, request: TokenRequest): Promise<TokenAnswer> {
    const { authorization, address } = request;
    const headers = { 'cache-control': 'no-store', pragma: 'no-cache' };
    const blockedMs = (await this.deps.limiter?.blockedFor(address)) ?? 0;
    if (blockedMs > 0) {
      const seconds = String(Math.ceil(blockedMs / 1000));
      const body = { error: 'invalid_client', error_description: `too many failed requests; retry in ${seconds} s` };
      return { status: 429, body, headers: { ...headers, 'retry-after': seconds } };
    }
    try {
      const jkt = await this.proofKey(request.dpop);
      const grant = await this.redeem(form, authorization);
      const scope = grantedScope(grant.idJag.scope, form.scope);
      const accessToken = await this.issue(grant, scope, jkt);
      this.deps.audit?.add(grantEvent(grant, { outcome: 'success' }));
      this.deps.log.info({ serverId: grant.serverId, idp: grant.idp.name }, 'id-jag redeemed');
      const body = {
        access_token: accessToken,
        token_type: jkt ? 'DPoP' : 'Bearer',
        expires_in: this.settings.tokenTtlSeconds,
        ...(scope !== undefined ? { scope } : {}),
      };
      return { status: 200, body, headers };
    } catch (err) {
      if (!(err instanceof GrantRefusal)) throw err;
      this.deps.log.info({ error: err.error, reason: err.message }, 'id-jag refused');
      if (err.error === 'invalid_client') this.deps.limiter?.count(address);
      const challenge: Record<string, string> =
        err.error === 'invalid_client' ? { 'www-authenticate': 'Basic realm="toolplane"' } : {};
      return {
        status: err.status,
        body: { error: err.error, error_description: err.message },
        headers: { ...headers, ...challenge },
      };
    }
  }

  /** The key of the request's DPoP proof, if it carries one (a proof that fails: `invalid_dpop_proof`). */
  private async proofKey(request: ProofRequest): Promise<string | undefined> {
    if (request.proof === undefined) return undefined;
    if (!this.deps.dpop) throw new GrantRefusal('invalid_dpop_proof', 'this authorization server binds no tokens');
    try {
      return await this.deps.dpop.verify(request);
    } catch (err) {
      if (err instanceof DpopRefusal) throw new GrantRefusal('invalid_dpop_proof', err.message);
      throw err;
    }
  }

  /** The grant's checks in the specification's order; any failure is a `GrantRefusal`. */
  private async redeem(form: Record<string, unknown>, authorization: string | undefined): Promise<Grant> {
    if (form.grant_type !== JWT_BEARER)
      throw new GrantRefusal('unsupported_grant_type', `only the JWT bearer grant (${JWT_BEARER}) is supported`);
    const assertion = form.assertion;
    if (typeof assertion !== 'string' || assertion === '')
      throw new GrantRefusal('invalid_request', 'the "assertion" parameter (the ID-JAG) is missing');
    const client = clientCredentials(form, authorization);
    const claimed = unverifiedIdJag(assertion);
    const serverId = this.serverOf(claimed.resource);
    const loaded = await this.deps.catalogs.get(serverId);
    if (!loaded) await this.deps.state.assertComplete();
    if (!loaded) throw new GrantRefusal('invalid_grant', "the assertion's resource is not an MCP server here");
    const workspaceId = loaded.catalog.workspaceId;
    const access = await this.deps.accessPolicies.get(workspaceId);
    const idp = this.registeredIdp(access, claimed.iss, client);
    const keys = this.idpKeys.of(idp.jwksUrl);
    const skew = this.settings.clockSkewSeconds;
    const idJag = await verifyIdJag(assertion, keys, { idp, audience: this.issuer, skew });
    const grant = await this.person({ serverId, workspaceId, idp, idJag });
    const decision = decideAccess(
      access,
      { subject: idJag.sub, groups: [], username: grant.person, selfUser: true },
      serverId,
    );
    if (!decision.allowed) {
      this.deps.audit?.add(grantEvent(grant, { outcome: 'refused', reason: 'access_policies' }));
      throw new GrantRefusal('invalid_grant', "the workspace's access policies do not let this person use this server");
    }
    // Single use (RFC 7521 §8.2, the profile's MUST): the jti is kept for the assertion's remaining lifetime.
    const ttl = Math.max(1, idJag.exp + skew - Math.floor(Date.now() / 1000));
    if (!(await this.deps.claimOnce(`${idp.issuer}\n${idJag.jti}`, ttl)))
      throw new GrantRefusal('invalid_grant', 'the assertion was already used');
    return grant;
  }

  /** The server an ID-JAG's `resource` names: exactly `<issuer>/mcp/<serverId>`. */
  private serverOf(resource: string): string {
    const prefix = `${this.issuer}/mcp/`;
    const id = resource.startsWith(prefix) ? resource.slice(prefix.length) : '';
    if (!/^[A-Za-z0-9_-]+$/.test(id))
      throw new GrantRefusal('invalid_grant', "the assertion's resource is not an MCP server of this issuer");
    return id;
  }

  /**
   * The IdP registration of the authenticated client for the ID-JAG's issuer. The client is authenticated first
   * (`invalid_client`, 401), so that nobody learns which issuers a workspace trusts without a client's secret; an
   * issuer not registered for that client is `invalid_grant`.
   */
  private registeredIdp(
    access: WorkspaceAccess,
    issuer: string,
    client: { clientId: string; secret: string },
  ): EnterpriseIdpRule {
    const clients = (access.enterpriseIdps ?? []).filter(
      (i) => i.clientId === client.clientId && secretMatches(client.secret, i),
    );
    if (clients.length === 0) throw new GrantRefusal('invalid_client', 'client authentication failed');
    const idp = clients.find((i) => i.issuer === issuer);
    if (!idp)
      throw new GrantRefusal('invalid_grant', "the assertion's issuer is not an identity provider of this workspace");
    return idp;
  }

  /** The workspace's external user the ID-JAG names (by the IdP's user claim); none: `invalid_grant`. */
  private async person(g: Omit<Grant, 'person' | 'userId'>): Promise<Grant> {
    const { person } = g.idJag;
    const userId = person === undefined ? null : await this.deps.userId(g.workspaceId, person);
    if (person !== undefined && !userId) await this.deps.state.assertComplete();
    if (person === undefined || !userId)
      throw new GrantRefusal('invalid_grant', 'the assertion names no active person of this workspace');
    return { ...g, person, userId };
  }

  private issue(grant: Grant, scope: string | undefined, jkt: string | undefined): Promise<string> {
    const { key, tokenTtlSeconds } = this.settings;
    return new SignJWT({
      client_id: grant.idp.clientId,
      toolplane_user: grant.person,
      idp: grant.idp.id,
      ...(scope !== undefined ? { scope } : {}),
      ...(jkt !== undefined ? { cnf: { jkt } } : {}),
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(this.issuer)
      .setSubject(grant.idJag.sub)
      .setAudience(this.resource(grant.serverId))
      .setIssuedAt()
      .setExpirationTime(`${tokenTtlSeconds}s`)
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  /** Whether a bearer token is one of ours (by its unverified `iss`; `verify` then checks everything). */
  issued(payload: JWTPayload): boolean {
    return payload.iss === this.issuer;
  }

  /** An access token of ours, for this server: signature, `typ`, issuer, audience (the server's URL), expiry. */
  async verify(token: string, serverId: string): Promise<TokenCheck> {
    try {
      const { payload } = await jwtVerify(token, this.settings.key.publicKey, {
        issuer: this.issuer,
        audience: this.resource(serverId),
        typ: ACCESS_TOKEN_TYP,
        algorithms: [this.settings.key.alg],
        clockTolerance: this.settings.clockSkewSeconds,
        requiredClaims: ['sub', 'exp', 'toolplane_user'],
      });
      const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
      const user = String(payload.toolplane_user);
      const idp = typeof payload.idp === 'string' ? { idp: payload.idp } : {};
      return { ok: true, subject: payload.sub!, scopes, groups: [], claims: payload, user, ...idp };
    } catch {
      return { ok: false, status: 401, error: 'invalid_token', description: 'the token could not be verified' };
    }
  }
}

/** The audit event of a grant (the person it was for; never the assertion). */
function grantEvent(grant: Grant, result: { outcome: 'success' | 'refused'; reason?: string }): AuditEventInput {
  return {
    id: randomUUID(),
    at: new Date().toISOString(),
    workspaceId: grant.workspaceId,
    actor: { type: 'person', id: grant.userId, name: grant.person },
    action: 'enterprise_idp.grant',
    resource: { type: 'enterprise_idp', id: grant.idp.id },
    outcome: result.outcome,
    status: result.outcome === 'success' ? 200 : 400,
    source: { requestId: null, traceId: null, clientAddress: null, userAgent: null },
    changes: null,
    details: {
      server: grant.serverId,
      idp: grant.idp.name,
      client: grant.idp.clientId,
      subject: grant.idJag.sub,
      ...(result.reason ? { reason: result.reason } : {}),
    },
  };
}
