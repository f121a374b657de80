import type { Credential } from './api.ts';

// SAML sign-in (ADR 0083): the control plane talks to the identity provider (AuthnRequest, ACS); the dashboard starts
// it at /saml/login and, back at /saml/callback, redeems the one-time code for the session's bearer token: the same
// kind of credential as an OAuth sign-in's.

/** Where the control plane sends the person back after the ACS. */
export const samlCallbackPath = '/saml/callback';

/** SAML sign-in's settings the control plane puts into the page (`<meta name="toolplane-saml">`), when configured. */
export function samlSettings(): { idp: string } | undefined {
  const text = document.querySelector<HTMLMetaElement>('meta[name="toolplane-saml"]')?.content;
  if (!text) return undefined;
  try {
    return JSON.parse(text) as { idp: string };
  } catch {
    return undefined;
  }
}

/** Leaves for the identity provider (through the control plane's AuthnRequest); back at `returnTo` once signed in. */
export function beginSamlSignIn(returnTo: string): void {
  window.location.assign(`/saml/login?return_to=${encodeURIComponent(returnTo)}`);
}

/**
 * Completes a SAML sign-in on the callback page: the control plane's refusal (`error`), or the code redeemed once for
 * the session's token. Throws with a message for the person.
 */
export async function completeSamlSignIn(current: URL): Promise<{ credential: Credential; returnTo: string }> {
  const error = current.searchParams.get('error');
  if (error) throw new Error(`The SAML sign-in was refused: ${error}.`);
  const code = current.searchParams.get('code');
  if (!code) throw new Error('The SAML sign-in response carries no code: sign in again.');
  const res = await fetch('/saml/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok)
    throw new Error(`The SAML sign-in could not be completed: ${String(body.detail ?? `HTTP ${res.status}`)}.`);
  const returnTo = typeof body.return_to === 'string' ? body.return_to : '/';
  return {
    credential: {
      kind: 'token',
      token: String(body.access_token),
      expiresAt: Date.now() + Number(body.expires_in) * 1000,
      scopes: Array.isArray(body.scopes) ? body.scopes.map(String) : [],
      subject: String(body.subject ?? ''),
    },
    returnTo: returnTo.startsWith('/') && !returnTo.startsWith('//') ? returnTo : '/',
  };
}

/** Ends a SAML session at the control plane when its person signs out (an OAuth issuer's token is left to expire). */
export function endSamlSession(c: Credential): void {
  if (c.kind !== 'token' || !c.token.startsWith('tps_')) return;
  void fetch('/saml/sign_out', {
    method: 'POST',
    headers: { authorization: `Bearer ${c.token}` },
    keepalive: true,
  }).catch(() => undefined);
}
