import express, { Router } from 'express';
import type { ControlPlaneDeps } from '../deps.ts';
import { connectCallback, pressConnectButton, showConnectPage } from './handlers.ts';
import { served } from './pages.ts';

/**
 * People's connect links (ADR 0027), outside the management API: the link itself is the credential (opaque,
 * single-use, ten minutes, written by a worker). Opening it shows a button; pressing it uses the link up and sends
 * the browser to the provider with `state` and a PKCE S256 challenge; the provider's callback has the worker exchange
 * the code (the only reader of the app's client secret) and store the tokens. A replayed, expired or forged link or
 * state finds nothing and stores nothing. The redirect URI is `<PUBLIC_API_URL>/connect/callback` (unset: the
 * request's origin).
 *
 * Bound to one browser: the page sets a cookie and puts a nonce derived from it in its form; the button's
 * POST must come from the page itself (`Sec-Fetch-Site: same-origin`, or an `Origin` equal to the public URL's) with
 * that nonce and cookie, else it is refused before the link is used up and before anything goes to the provider
 * (another site's page cannot press someone's link in your browser). The state remembers the cookie's hash, and the
 * callback must come with the same cookie (a provider page reached in another browser connects nobody).
 */
export function connectRouter(deps: ControlPlaneDeps): Router {
  const page = served(deps);
  const r = Router();
  r.get('/connect/callback', page(connectCallback));
  r.get('/connect/:token', page(showConnectPage));
  r.post('/connect/:token', express.urlencoded({ extended: false, limit: '4kb' }), page(pressConnectButton));
  return r;
}
