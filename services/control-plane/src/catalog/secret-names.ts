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

/** A workspace's registered external MCP server (its header values): deleted with it. */
export function externalServerSecretPrefix(workspaceId: string, externalServerId: string): string {
  return `ws/${workspaceId}/external-mcp-servers/${externalServerId}/`;
}

/**
 * One header value of a registered external MCP server (the header name hex-encoded, lower case: any
 * HTTP token fits a secret name). `generation` makes every write a new name, as for external configs.
 */
export function externalServerHeaderSecretName(
  workspaceId: string,
  externalServerId: string,
  header: string,
  generation: string,
): string {
  const hex = Buffer.from(header.toLowerCase()).toString('hex');
  return `${externalServerSecretPrefix(workspaceId, externalServerId)}headers/${hex}-${generation}`;
}

/** The HEC token or webhook HMAC key of an audit exporter (ADR 0065): deleted with it. */
export function auditExporterSecretName(workspaceId: string, exporterId: string): string {
  return `ws/${workspaceId}/audit-exporters/${exporterId}/secret`;
}
