/**
 * Where everything the catalog refers to lives in the secrets store. Catalogs carry these names,
 * never values; the worker resolves them. One module, so compilation and the routers agree.
 */

/** An instance's credentials (one secret per field). */
export function credentialSecretPrefix(workspaceId: string, instanceId: string): string {
  return `ws/${workspaceId}/connector-instances/${instanceId}/`;
}

export function credentialSecretName(workspaceId: string, instanceId: string, field: string): string {
  return credentialSecretPrefix(workspaceId, instanceId) + field;
}

/** An external user's own credentials for an instance (`userId` may be the `{user}` template). */
export function userCredentialSecretPrefix(workspaceId: string, userId: string, instanceId: string): string {
  return `ws/${workspaceId}/users/${userId}/connector-instances/${instanceId}/`;
}

export function userCredentialSecretName(
  workspaceId: string,
  userId: string,
  instanceId: string,
  field: string,
): string {
  return userCredentialSecretPrefix(workspaceId, userId, instanceId) + field;
}

/** Everything owned by one MCP server (workflow `$secrets`, external-server headers): deleted with it. */
export function serverSecretPrefix(workspaceId: string, serverId: string): string {
  return `ws/${workspaceId}/servers/${serverId}/`;
}

/** Where `$secrets.NAME` of a server's workflows lives. */
export function serverSecretName(workspaceId: string, serverId: string, name: string): string {
  return `${serverSecretPrefix(workspaceId, serverId)}secrets/${name}`;
}

/**
 * The header values of one external MCP config. `generation` makes every write a new name, so a
 * replaced config's old secret stays valid until the transaction that replaces it has committed.
 */
export function externalHeadersSecretName(
  workspaceId: string,
  serverId: string,
  configName: string,
  generation: string,
): string {
  return `${serverSecretPrefix(workspaceId, serverId)}external/${configName}/headers-${generation}`;
}
