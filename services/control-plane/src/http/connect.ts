import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { ConnectLink, redisKeys } from '@toolplane/contracts';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import express, { Router, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';

/**
 * An opened link waiting for the provider's callback: the link's binding, the PKCE verifier, and the SHA-256 of the
 * connect page's cookie in the browser that pressed the button (the callback must come from that browser).
 */
const OpenedLink = z.object({
  link: ConnectLink,
  verifier: z.string(),
  redirectUri: z.string().url(),
  browser: z.string(),
});
type OpenedLink = z.infer<typeof OpenedLink>;

/** How long the provider round trip may take once a link is opened. */
const STATE_TTL_SECONDS = 600;
/** How long the connect page's cookie lasts: a link's ten minutes, then its provider round trip's. */
const COOKIE_MAX_AGE_SECONDS = 2 * STATE_TTL_SECONDS;
/** A connection's index of pending links and states (`oauthConnectPending`) lives as long as the last of them. */
const PENDING_TTL_SECONDS = 2 * STATE_TTL_SECONDS;
/** The cookie's value: 32 random bytes, base64url. */
const BROWSER_VALUE = /^[A-Za-z0-9_-]{43}$/;

/** Links and states are kept in Redis under the SHA-256 of their token (as API keys are), never the token. */
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/**
 * The connect page's cookie, which binds the page's form and then the provider's callback to one browser. `__Host-`
 * (Secure, no Domain, Path=/: no other host or subdomain can set it) when the public URL is https; on plain http
 * (local development and tests) browsers refuse Secure cookies (`__Host-` requires Secure), so it has a plain name.
 * `SameSite=Lax`, not `Strict`: the provider's redirect to the callback is a navigation from another site, and a
 * `Strict` cookie would not come with it; `Lax` still stays home on another site's POST (the button's).
 */
const cookieName = (secure: boolean) => (secure ? '__Host-toolplane-connect' : 'toolplane-connect');

/** The value of cookie `name` the request carries, when it is one this page set. */
function cookieValue(req: Request, name: string): string | undefined {
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
const nonceFor = (browser: string, tokenHash: string) =>
  createHash('sha256').update(`${browser}\n${tokenHash}`).digest('base64url');

/** Compares a value the request sent with the expected one in constant time. */
const sameText = (given: string, expected: string) =>
  given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));

/** How long the worker has to exchange the code. */
const EXCHANGE_TIMEOUT_MS = 30_000;

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A page for the person (not for the agent): what happened and what to do now, and maybe one button. */
function page(
  res: Response,
  status: number,
  title: string,
  text: string,
  button?: { label: string; formActionOrigin: string; nonce: string },
): void {
  const form = button
    ? `<form method="post"><input type="hidden" name="nonce" value="${escapeHtml(button.nonce)}">` +
      `<button type="submit">${escapeHtml(button.label)}</button></form>`
    : '';
  res
    .status(status)
    .set({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // The button posts here, and the answer redirects to the provider: both are allowed form targets.
      'content-security-policy': `default-src 'none'; frame-ancestors 'none'; form-action 'self'${
        button ? ` ${button.formActionOrigin}` : ''
      }`,
      // The button's POST must carry this page's Origin (with `no-referrer` browsers send `Origin: null`); nothing,
      // not even the origin, goes to another site.
      'referrer-policy': button ? 'same-origin' : 'no-referrer',
    })
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
        `<body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>${form}</main></body></html>`,
    );
}

/**
 * People's connect links (ADR 0027), outside the management API: the link itself is the credential (opaque,
 * single-use, ten minutes, written by a worker). Opening it shows a button; pressing it uses the link up and sends
 * the browser to the provider with `state` and a PKCE S256 challenge; the provider's callback has the worker exchange the code (the only reader of the app's
 * client secret) and store the tokens. A replayed, expired or forged link or state finds nothing and stores nothing.
 *
 * Bound to one browser (issue #47): the page sets a cookie and puts a nonce derived from it in its form; the button's
 * POST must come from the page itself (`Sec-Fetch-Site: same-origin`, or an `Origin` equal to the public URL's) with
 * that nonce and cookie, else it is refused before the link is used up and before anything goes to the provider
 * (another site's page cannot press someone's link in your browser). The state remembers the cookie's hash, and the
 * callback must come with the same cookie (a provider page reached in another browser connects nobody).
 */
export function connectRouter(opts: {
  redis: Redis;
  prefix: string;
  tasks: DataPlaneTaskClient;
  /** The control plane's public base URL (the redirect URI is `<url>/connect/callback`); unset: the request's origin. */
  publicApiUrl: string | undefined;
  /**
   * Lists the connection and cancels its other pending links and states (the tokens are stored by then); a failure
   * here is logged, the person is still connected.
   */
  onConnected: (link: ConnectLink) => Promise<void>;
  /**
   * Whether a link's binding holds together: its person and its server are the named workspace's, and its connection
   * is that person's in that workspace. Links are written by workers; one that does not (another workspace's person or
   * server, a rewritten record) is refused before the provider and before the exchange, and stores nothing.
   */
  linkBelongs: (link: ConnectLink) => Promise<boolean>;
}): Router {
  const keys = redisKeys(opts.prefix);
  const r = Router();
  const callbackUrl = (req: Request) =>
    `${opts.publicApiUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.get('host') ?? ''}`}/connect/callback`;
  /** The origin people's browsers reach these pages at. */
  const configuredOrigin = opts.publicApiUrl ? new URL(opts.publicApiUrl).origin : undefined;
  const publicOrigin = (req: Request) => configuredOrigin ?? `${req.protocol}://${req.get('host') ?? ''}`;
  const bindingCookie = (req: Request) => cookieName(publicOrigin(req).startsWith('https:'));

  r.get('/connect/callback', async (req, res) => {
    const state = typeof req.query.state === 'string' ? req.query.state : '';
    const raw = state ? await opts.redis.getdel(keys.oauthConnectState(sha256(state))) : null;
    const opened = raw ? OpenedLink.safeParse(JSON.parse(raw)) : undefined;
    if (!opened?.success)
      return page(res, 400, 'This link has expired', 'Ask your agent for a new link, and open it within 10 minutes.');
    const browser = cookieValue(req, bindingCookie(req));
    if (!browser || !sameText(sha256(browser), opened.data.browser))
      return page(
        res,
        400,
        'Not connected',
        'This connection was started in another browser (or this browser did not keep the connect page’s cookie). ' +
          'Nothing was connected: open the link again from the start, in the browser you sign in to the provider with.',
      );
    const providerError = typeof req.query.error === 'string' ? req.query.error : undefined;
    if (providerError)
      return page(
        res,
        200,
        'Not connected',
        providerError === 'access_denied'
          ? 'You did not allow access. Nothing was connected; your agent can give you a new link if you change your mind.'
          : `The provider refused the connection (${providerError}). Nothing was connected.`,
      );
    const code = typeof req.query.code === 'string' ? req.query.code : '';
    if (!code)
      return page(res, 400, 'Not connected', 'The provider sent no authorization code. Nothing was connected.');
    const { link, verifier, redirectUri } = opened.data;
    if (!(await opts.linkBelongs(link))) return invalid(res);
    const result = await opts.tasks
      .exchangeOAuthCode({
        v: 1,
        taskId: randomUUID(),
        kind: 'oauth.exchange',
        link,
        code,
        verifier,
        redirectUri,
        deadlineAt: Date.now() + EXCHANGE_TIMEOUT_MS,
        replyTo: opts.tasks.clientId,
      })
      // No worker answered in time (or Redis is down): the person is told, not shown an API error.
      .catch(() => ({ ok: false, error: 'temporarily_unavailable' }));
    if (result.ok) {
      await opts.onConnected(link);
      return page(
        res,
        200,
        'Connected',
        `Your account is connected for ${link.username}. You can return to your agent now.`,
      );
    }
    page(
      res,
      result.error === 'temporarily_unavailable' ? 503 : 400,
      'Not connected',
      `The provider did not complete the connection (${result.error ?? 'unknown error'}). Ask your agent for a new link.`,
    );
  });

  const expired = (res: Response) =>
    page(
      res,
      410,
      'This link has expired',
      'Connect links work once, for 10 minutes. Ask your agent for a new one (calling the tool again gives one).',
    );
  const invalid = (res: Response) =>
    page(res, 400, 'This link is not valid', 'Nothing was connected. Ask your agent for a new link.');
  const notFromItsPage = (res: Response, why: string) =>
    page(res, 403, 'Not connected', `${why} Nothing was connected: open the link again from the start.`);
  const readLink = (raw: string | null) => (raw ? ConnectLink.safeParse(JSON.parse(raw)) : undefined);

  // Opening the link only shows what it does: chat apps fetch links to preview them, and must not use it up.
  r.get('/connect/:token', async (req, res) => {
    const tokenHash = sha256(req.params.token);
    const link = readLink(await opts.redis.get(keys.oauthConnectLink(tokenHash)));
    if (!link?.success) return expired(res);
    const provider = new URL(link.data.authorizeUrl);
    // This browser's binding: kept when it has one (several links may be open at once), refreshed otherwise.
    const name = bindingCookie(req);
    const browser = cookieValue(req, name) ?? randomBytes(32).toString('base64url');
    res.cookie(name, browser, {
      httpOnly: true,
      secure: name.startsWith('__Host-'),
      sameSite: 'lax',
      path: '/',
      maxAge: COOKIE_MAX_AGE_SECONDS * 1000,
    });
    page(
      res,
      200,
      'Connect your account',
      `Continue to ${provider.host} to let Toolplane use your account there for ${link.data.username}. ` +
        'Your agent never sees your password or tokens.',
      { label: `Continue to ${provider.host}`, formActionOrigin: provider.origin, nonce: nonceFor(browser, tokenHash) },
    );
  });

  // The button: the link is used up, and the browser goes to the provider with `state` and a PKCE S256 challenge.
  r.post('/connect/:token', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    const tokenHash = sha256(req.params.token);
    const linkKey = keys.oauthConnectLink(tokenHash);
    // Checked before the link is used up: a refused press leaves it to its person.
    if ((await opts.redis.exists(linkKey)) === 0) return expired(res);
    if (req.get('sec-fetch-site') !== 'same-origin' && req.get('origin') !== publicOrigin(req))
      return notFromItsPage(res, 'This button works only on its own page, not from another site.');
    const browser = cookieValue(req, bindingCookie(req));
    const nonce = (req.body as { nonce?: unknown } | undefined)?.nonce;
    if (!browser || typeof nonce !== 'string' || !sameText(nonce, nonceFor(browser, tokenHash)))
      return notFromItsPage(
        res,
        'This button’s page was not opened in this browser, or the browser did not keep its cookie (it must accept ' +
          'cookies from this site).',
      );
    const link = readLink(await opts.redis.getdel(linkKey));
    if (!link?.success) return expired(res);
    if (!(await opts.linkBelongs(link.data))) return invalid(res);
    const state = randomBytes(32).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    const redirectUri = callbackUrl(req);
    const stateKey = keys.oauthConnectState(sha256(state));
    const pending = keys.oauthConnectPending(link.data.connection);
    const opened: OpenedLink = { link: link.data, verifier, redirectUri, browser: sha256(browser) };
    const written = await opts.redis
      .multi()
      .set(stateKey, JSON.stringify(opened), 'EX', STATE_TTL_SECONDS)
      .srem(pending, linkKey)
      .sadd(pending, stateKey)
      .expire(pending, PENDING_TTL_SECONDS)
      .exec();
    const failed = written?.find(([err]) => err)?.[0];
    if (!written || failed) throw failed ?? new Error('the opened link could not be stored');
    const to = new URL(link.data.authorizeUrl);
    to.searchParams.set('response_type', 'code');
    to.searchParams.set('client_id', link.data.clientId);
    to.searchParams.set('redirect_uri', redirectUri);
    if (link.data.scopes.length > 0) to.searchParams.set('scope', link.data.scopes.join(' '));
    to.searchParams.set('state', state);
    to.searchParams.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
    to.searchParams.set('code_challenge_method', 'S256');
    res.set({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).redirect(303, to.toString());
  });
  return r;
}
