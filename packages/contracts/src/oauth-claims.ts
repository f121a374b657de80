/**
 * Reading OAuth access-token claims the same way everywhere tokens are accepted (the edge's MCP servers, the
 * control plane's management API).
 */

/** A token's scopes: the `scope` claim (space-separated, RFC 9068) or an `scp` array (Entra ID, Okta). */
export function tokenScopes(claims: Record<string, unknown>): string[] {
  if (typeof claims.scope === 'string') return claims.scope.split(' ').filter(Boolean);
  if (Array.isArray(claims.scp)) return claims.scp.filter((s): s is string => typeof s === 'string' && s.length > 0);
  return [];
}

/** A token's groups (access policies, ADR 0013): the `groups` claim, an array or a space-separated string. */
export function tokenGroups(claims: Record<string, unknown>): string[] {
  const claim = claims.groups;
  if (Array.isArray(claim)) return claim.filter((g): g is string => typeof g === 'string' && g.length > 0);
  if (typeof claim === 'string') return claim.split(' ').filter(Boolean);
  return [];
}
