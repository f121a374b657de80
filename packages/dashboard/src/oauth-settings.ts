import { useEffect, useState } from 'react';

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
function oauthUnavailable(): string | undefined {
  return metaContent('toolplane-oauth-error');
}

/** Where the issuer sends the user back: this path of the dashboard. */
export const callbackPath = '/oauth/callback';

/** The OAuth `<meta>` elements of a copy of the page, as the control plane serves it now. */
async function servedSettings(): Promise<{ settings?: HTMLMetaElement; error?: HTMLMetaElement }> {
  const res = await fetch('/', { headers: { accept: 'text/html' }, cache: 'no-store' });
  if (!res.ok) throw new Error(`the control plane answered ${res.status}`);
  const page = new DOMParser().parseFromString(await res.text(), 'text/html');
  const pick = (name: string) => page.querySelector<HTMLMetaElement>(`meta[name="${name}"]`) ?? undefined;
  return { settings: pick('toolplane-oauth'), error: pick('toolplane-oauth-error') };
}

/** The first wait before asking the control plane again, and the longest: doubled after each failed attempt. */
const FIRST_RETRY_MS = 2_000;
const LONGEST_RETRY_MS = 30_000;

/**
 * The OAuth sign-in settings, and why they are missing while the issuer's metadata cannot be read. The control plane
 * discovers the issuer when it serves the page; when that failed, this asks it again for a fresh copy of the page
 * (backing off from 2 s to 30 s between attempts) until the settings come, then puts them into this page's `<head>`
 * (what `oauthSettings()` reads) and shows them: the issuer's button appears without a reload. API-key sign-in works
 * all along. The token request happens on the callback page, which the control plane serves with the issuer's origin
 * allowed by its policy.
 */
export function useOAuthSettings(): { settings: OAuthSettings | undefined; unavailable: string | undefined } {
  const [state, setState] = useState(() => ({ settings: oauthSettings(), unavailable: oauthUnavailable() }));
  const waiting = !state.settings && state.unavailable !== undefined;
  useEffect(() => {
    if (!waiting) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const attempt = (delay: number) => {
      timer = setTimeout(() => {
        servedSettings().then(
          ({ settings, error }) => {
            if (!live) return;
            if (settings) {
              document.head.querySelector('meta[name="toolplane-oauth-error"]')?.remove();
              document.head.append(settings);
              setState({ settings: oauthSettings(), unavailable: undefined });
              return;
            }
            // Still failing (or no longer configured: then there is nothing to wait for).
            if (!error) return setState({ settings: undefined, unavailable: undefined });
            setState((now) =>
              now.unavailable === error.content ? now : { settings: undefined, unavailable: error.content },
            );
            attempt(Math.min(delay * 2, LONGEST_RETRY_MS));
          },
          () => live && attempt(Math.min(delay * 2, LONGEST_RETRY_MS)),
        );
      }, delay);
    };
    attempt(FIRST_RETRY_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [waiting]);
  return state;
}
