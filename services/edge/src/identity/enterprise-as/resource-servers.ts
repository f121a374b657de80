import { decodeJwt, type JWTPayload } from 'jose';
import type { OAuthVerifier } from '../authenticate.ts';
import { DPOP_ALGORITHMS } from '../dpop.ts';
import type { OAuthResourceServer, TokenCheck } from '../oauth.ts';
import type { EnterpriseAuthorizationServer } from './server.ts';

/**
 * The edge as a protected resource of both authorization servers (ADR 0082): the external issuer (`OAUTH_ISSUER`),
 * when configured, and the edges' own (ID-JAG grants), when configured. Both are listed in each server's RFC 9728
 * metadata and both are accepted: a token goes to the one its (unverified) `iss` names, which verifies all of it.
 */
export class ProtectedResource implements OAuthVerifier {
  private readonly publicUrl: string;
  private readonly external: OAuthResourceServer | undefined;
  private readonly own: EnterpriseAuthorizationServer | undefined;

  constructor(
    publicUrl: string,
    external: OAuthResourceServer | undefined,
    own: EnterpriseAuthorizationServer | undefined,
  ) {
    this.publicUrl = publicUrl;
    this.external = external;
    this.own = own;
  }

  private base(): string {
    return this.publicUrl.replace(/\/+$/, '');
  }

  /** RFC 9728 Protected Resource Metadata for one MCP server. */
  metadata(serverId: string) {
    const issuers = [...(this.external ? [this.external.config.issuer] : []), ...(this.own ? [this.own.issuer] : [])];
    return {
      resource: `${this.base()}/mcp/${serverId}`,
      authorization_servers: issuers,
      ...(this.external ? { scopes_supported: [this.external.config.requiredScope] } : {}),
      bearer_methods_supported: ['header'],
      // RFC 9728 §2: a token bound to a key (`cnf.jkt`) is accepted with a proof of these algorithms (ADR 0106).
      dpop_signing_alg_values_supported: [...DPOP_ALGORITHMS],
      resource_name: `Toolplane MCP server ${serverId}`,
    };
  }

  challenge(serverId: string, error?: { error: string; description: string }): string {
    if (this.external) return this.external.challenge(serverId, error);
    const parts = [`resource_metadata="${this.base()}/.well-known/oauth-protected-resource/mcp/${serverId}"`];
    if (error) parts.push(`error="${error.error}"`, `error_description="${error.description.replace(/"/g, "'")}"`);
    return `Bearer ${parts.join(', ')}`;
  }

  async verify(token: string, serverId: string): Promise<TokenCheck> {
    let payload: JWTPayload | undefined;
    try {
      payload = decodeJwt(token);
    } catch {
      payload = undefined;
    }
    if (this.own && payload && this.own.issued(payload)) return this.own.verify(token, serverId);
    if (this.external) return this.external.verify(token, serverId);
    return { ok: false, status: 401, error: 'invalid_token', description: 'the token could not be verified' };
  }
}
