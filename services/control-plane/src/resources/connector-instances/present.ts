/** An instance as the API shows it, with the MCP server generated for it (`server`; none: nulls). */
export function present(
  row: {
    id: string;
    connectorId: string;
    name: string;
    baseUrl: string | null;
    oauthUrls?: unknown;
    credentialKeys: string[];
    createdAt: Date;
    updatedAt: Date;
  },
  server: { id: string; name: string } | undefined,
) {
  return {
    id: row.id,
    connector_id: row.connectorId,
    name: row.name,
    base_url: row.baseUrl,
    oauth_urls: (row.oauthUrls ?? null) as {
      authorization_url?: string;
      token_url?: string;
      revocation_url?: string;
    } | null,
    credential_keys: row.credentialKeys,
    mcp_server_id: server?.id ?? null,
    mcp_server_name: server?.name ?? null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
