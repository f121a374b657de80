import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';

/** The cookie's value: 32 random bytes, base64url. */
const BROWSER_VALUE = /^[A-Za-z0-9_-]{43}$/;

/** Links and states are kept in Redis under the SHA-256 of their token (as API keys are), never the token. */
export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/**
 * The connect page's cookie, which binds the page's form and then the provider's callback to one browser. `__Host-`
 * (Secure, no Domain, Path=/: no other host or subdomain can set it) when the public URL is https; on plain http
 * (local development and tests) browsers refuse Secure cookies (`__Host-` requires Secure), so it has a plain name.
 * `SameSite=Lax`, not `Strict`: the provider's redirect to the callback is a navigation from another site, and a
 * `Strict` cookie would not come with it; `Lax` still stays home on another site's POST (the button's).
 */
const cookieName = (secure: boolean) => (secure ? '__Host-toolplane-connect' : 'toolplane-connect');

/** The value of cookie `name` the request carries, when it is one this page set. */
export function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) {
      const value = part.slice(at + 1).trim();
      return BROWSER_VALUE.test(value) ? value : undefined;
    }
  }
  return undefined;
}

/** The form's nonce for one link in one browser: only a page holding that browser's cookie can have it. */
export const nonceFor = (browser: string, tokenHash: string) =>
  createHash('sha256').update(`${browser}\n${tokenHash}`).digest('base64url');

/** Compares a value the request sent with the expected one in constant time. */
export const sameText = (given: string, expected: string) =>
  given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));

/**
 * The providers' redirect URI, `<publicApiUrl>/connect/callback` (the control plane's public base URL,
 * `PUBLIC_API_URL`; unset: the request's origin).
 */
export const callbackUrl = (publicApiUrl: string | undefined, req: Request) =>
  `${publicApiUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.get('host') ?? ''}`}/connect/callback`;

/** The origin people's browsers reach these pages at. */
const publicOrigin = (publicApiUrl: string | undefined, req: Request) =>
  publicApiUrl ? new URL(publicApiUrl).origin : `${req.protocol}://${req.get('host') ?? ''}`;

/** The name of this deployment's binding cookie (`__Host-` on https). */
export const bindingCookie = (publicApiUrl: string | undefined, req: Request) =>
  cookieName(publicOrigin(publicApiUrl, req).startsWith('https:'));

/**
 * Sets this browser's binding cookie on a page's answer (`maxAgeSeconds`) and gives its value: the one the browser
 * holds, kept (several links may be open at once), else a new one.
 */
export function bindBrowser(publicApiUrl: string | undefined, req: Request, res: Response, maxAgeSeconds: number) {
  const name = bindingCookie(publicApiUrl, req);
  const browser = cookieValue(req, name) ?? randomBytes(32).toString('base64url');
  res.cookie(name, browser, {
    httpOnly: true,
    secure: name.startsWith('__Host-'),
    sameSite: 'lax',
    path: '/',
    maxAge: maxAgeSeconds * 1000,
  });
  return browser;
}

/**
 * Why a POST of a page's form is refused, if it is: `origin` when it did not come from the page itself (neither
 * `Sec-Fetch-Site: same-origin` nor an `Origin` equal to the public URL's), `cookie` when it lacks this browser's
 * cookie or the nonce the page derived from it for this link. Undefined: it came from its page in this browser.
 */
export function pageFormRefusal(
  publicApiUrl: string | undefined,
  req: Request,
  tokenHash: string,
): 'origin' | 'cookie' | undefined {
  if (req.get('sec-fetch-site') !== 'same-origin' && req.get('origin') !== publicOrigin(publicApiUrl, req))
    return 'origin';
  const browser = cookieValue(req, bindingCookie(publicApiUrl, req));
  const nonce = (req.body as { nonce?: unknown } | undefined)?.nonce;
  if (!browser || typeof nonce !== 'string' || !sameText(nonce, nonceFor(browser, tokenHash))) return 'cookie';
  return undefined;
}
