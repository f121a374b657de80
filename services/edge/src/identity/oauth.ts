import { tokenGroups, tokenScopes } from '@toolplane/contracts';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';

export interface OAuthConfig {
  issuer: string;
  jwksUrl: string;
  publicUrl: string;
  requiredScope: string;
}

export type TokenCheck =
  | {
      ok: true;
      subject: string;
      scopes: string[];
      groups: string[];
      claims: JWTPayload;
      /** The external user the token is (the edges' own tokens name their person, ADR 0082). */
      user?: string;
      /** An edges' own token: the enterprise IdP whose ID-JAG it was granted for (records say `id-jag:<id>`). */
      idp?: string;
    }
  | { ok: false; status: 401 | 403; error: 'invalid_token' | 'insufficient_scope'; description: string };

/**
 * MCP authorization as an OAuth 2.1 resource server: each MCP server URL is a protected resource
 * (RFC 9728 metadata), and access tokens are JWTs from the configured issuer, verified against its
 * JWKS, with the audience naming this exact resource. The token is never forwarded upstream.
 */
export class OAuthResourceServer {
  readonly config: OAuthConfig;
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;

  constructor(config: OAuthConfig) {
    this.config = config;
    this.jwks = createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
  }

  resource(serverId: string): string {
    return `${this.config.publicUrl.replace(/\/+$/, '')}/mcp/${serverId}`;
  }

  metadataUrl(serverId: string): string {
    return `${this.config.publicUrl.replace(/\/+$/, '')}/.well-known/oauth-protected-resource/mcp/${serverId}`;
  }

  /** RFC 9728 Protected Resource Metadata for one MCP server. */
  metadata(serverId: string) {
    return {
      resource: this.resource(serverId),
      authorization_servers: [this.config.issuer],
      scopes_supported: [this.config.requiredScope],
      bearer_methods_supported: ['header'],
      resource_name: `Toolplane MCP server ${serverId}`,
    };
  }

  /** The `WWW-Authenticate` challenge for a 401 or 403 (MCP authorization spec). */
  challenge(serverId: string, error?: { error: string; description: string }): string {
    const parts = [`resource_metadata="${this.metadataUrl(serverId)}"`, `scope="${this.config.requiredScope}"`];
    if (error) parts.push(`error="${error.error}"`, `error_description="${error.description.replace(/"/g, "'")}"`);
    return `Bearer ${parts.join(', ')}`;
  }

  async verify(token: string, serverId: string): Promise<TokenCheck> {
    try {
      const { payload } = await jwtVerify(token, this.jwks, {
        issuer: this.config.issuer,
        audience: this.resource(serverId),
        algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'],
      });
      const scopes = tokenScopes(payload);
      if (!scopes.includes(this.config.requiredScope)) {
        return {
          ok: false,
          status: 403,
          error: 'insufficient_scope',
          description: `the token lacks the "${this.config.requiredScope}" scope`,
        };
      }
      return { ok: true, subject: payload.sub ?? 'unknown', scopes, groups: tokenGroups(payload), claims: payload };
    } catch (err) {
      const description =
        err instanceof errors.JWTExpired
          ? 'the token has expired'
          : err instanceof errors.JWTClaimValidationFailed
            ? `the token's "${err.claim}" claim is not accepted here`
            : 'the token could not be verified';
      return { ok: false, status: 401, error: 'invalid_token', description };
    }
  }
}
