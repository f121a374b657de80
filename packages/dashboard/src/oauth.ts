import { tokenScopes } from '@toolplane/contracts/oauth-claims';
import * as oauth from 'oauth4webapi';
import type { Credential } from './api.ts';
import { callbackPath, type OAuthSettings } from './oauth-settings.ts';

// Sign-in with the deployment's OAuth issuer (ADR 0020): authorization code with PKCE (S256) as a public client,
// the RFC 8707 `resource` naming the control plane, `state` against forged callbacks, and the issuer's `iss`
// response parameter checked where it sends one (RFC 9207). Loaded only when a sign-in starts or completes.

const PENDING = 'toolplane.oauth.pending';

interface Pending {
  verifier: string;
  state: string;
  returnTo: string;
}

function endpoints(s: OAuthSettings): { as: oauth.AuthorizationServer; client: oauth.Client; insecure: boolean } {
  const as: oauth.AuthorizationServer = {
    issuer: s.issuer,
    authorization_endpoint: s.authorization_endpoint,
    token_endpoint: s.token_endpoint,
  };
  // http only where the control plane allowed it: an issuer on this machine (development, tests).
  return { as, client: { client_id: s.client_id }, insecure: new URL(s.token_endpoint).protocol === 'http:' };
}

function redirectUri(): string {
  return new URL(callbackPath, window.location.origin).href;
}

/** Leaves for the issuer's sign-in page; the user comes back to `returnTo` once signed in. */
export async function beginSignIn(s: OAuthSettings, returnTo: string): Promise<void> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo } satisfies Pending));
  const url = new URL(s.authorization_endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', s.client_id);
  url.searchParams.set('redirect_uri', redirectUri());
  url.searchParams.set('scope', s.scope);
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('resource', s.resource);
  window.location.assign(url.href);
}

/** The API-key scopes a token's `scope` (or `scp`) claim grants, and its subject; claims read, not verified (hints only). */
function claimsOf(token: string, prefix: string): { scopes: string[]; subject: string } {
  try {
    const part = token.split('.')[1] ?? '';
    const claims = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    const scopes = tokenScopes(claims)
      .filter((x) => x.startsWith(prefix))
      .map((x) => x.slice(prefix.length));
    return { scopes, subject: typeof claims.sub === 'string' ? claims.sub : '' };
  } catch {
    return { scopes: [], subject: '' };
  }
}

/** An error for the user: `what`, then the OAuth error code and description, or the failure's message. */
function explained(what: string, err: unknown): Error {
  const why =
    err instanceof oauth.AuthorizationResponseError || err instanceof oauth.ResponseBodyError
      ? `${err.error}${err.error_description ? ` (${err.error_description})` : ''}`
      : err instanceof Error
        ? err.message
        : String(err);
  return new Error(`${what}: ${why}.`, { cause: err });
}

/**
 * Completes a sign-in on the callback page: checks the response against the pending request (state, issuer),
 * redeems the code with the verifier, and returns the credential and where to go. Throws with a message for the
 * user (the issuer's error, a forged or stale callback, a refused code).
 */
export async function completeSignIn(
  s: OAuthSettings,
  current: URL,
): Promise<{ credential: Credential; returnTo: string }> {
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null') as Pending | null;
  sessionStorage.removeItem(PENDING); // one use, whatever happens
  if (!pending) throw new Error('No sign-in was started in this tab (or it was already completed): sign in again.');
  const { as, client, insecure } = endpoints(s);
  const options = insecure ? { [oauth.allowInsecureRequests]: true } : {};
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(as, client, current, pending.state);
  } catch (err) {
    if (err instanceof oauth.AuthorizationResponseError) throw explained('The issuer refused the sign-in', err);
    throw explained('The sign-in response is not valid', err);
  }
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    client,
    oauth.None(),
    params,
    redirectUri(),
    pending.verifier,
    { ...options, additionalParameters: { resource: s.resource } },
  );
  let result: oauth.TokenEndpointResponse;
  try {
    result = await oauth.processAuthorizationCodeResponse(as, client, response);
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) throw explained('The issuer did not give a token', err);
    throw explained("The issuer's token response is not valid", err);
  }
  if (result.token_type.toLowerCase() !== 'bearer')
    throw new Error(`The issuer gave a ${result.token_type} token, not a bearer token.`);
  const { scopes, subject } = claimsOf(result.access_token, s.scope_prefix);
  const expiresAt = Date.now() + (result.expires_in ?? 3600) * 1000;
  const returnTo = pending.returnTo.startsWith('/') && !pending.returnTo.startsWith('//') ? pending.returnTo : '/';
  return { credential: { kind: 'token', token: result.access_token, expiresAt, scopes, subject }, returnTo };
}
