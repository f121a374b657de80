/**
 * OAuth sign-in settings the control plane puts into the page (`<meta name="toolplane-oauth">`, ADR 0020) when the
 * deployment configures an issuer and a client id for the dashboard; read without loading the OAuth client.
 */
export interface OAuthSettings {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  client_id: string;
  scope: string;
  resource: string;
  /** Token scopes are API-key scopes with this prefix (`toolplane:`). */
  scope_prefix: string;
}

function metaContent(name: string): string | undefined {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content || undefined;
}

export function oauthSettings(): OAuthSettings | undefined {
  const text = metaContent('toolplane-oauth');
  if (!text) return undefined;
  try {
    return JSON.parse(text) as OAuthSettings;
  } catch {
    return undefined;
  }
}

/** Why OAuth sign-in is configured but unavailable now (the issuer's metadata could not be read). */
export function oauthUnavailable(): string | undefined {
  return metaContent('toolplane-oauth-error');
}

/** Where the issuer sends the user back: this path of the dashboard. */
export const callbackPath = '/oauth/callback';
