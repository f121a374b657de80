import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ConnectLink, redisKeys } from '@toolplane/contracts';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import { Router, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';

/** An opened link waiting for the provider's callback: the link's binding and the PKCE verifier. */
const OpenedLink = z.object({ link: ConnectLink, verifier: z.string(), redirectUri: z.string().url() });

/** How long the provider round trip may take once a link is opened. */
const STATE_TTL_SECONDS = 600;
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
  button?: { label: string; formActionOrigin: string },
): void {
  const form = button ? `<form method="post"><button type="submit">${escapeHtml(button.label)}</button></form>` : '';
  res
    .status(status)
    .set({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // The button posts here, and the answer redirects to the provider: both are allowed form targets.
      'content-security-policy': `default-src 'none'; frame-ancestors 'none'; form-action 'self'${
        button ? ` ${button.formActionOrigin}` : ''
      }`,
      'referrer-policy': 'no-referrer',
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
 */
export function connectRouter(opts: {
  redis: Redis;
  prefix: string;
  tasks: DataPlaneTaskClient;
  /** The control plane's public base URL (the redirect URI is `<url>/connect/callback`); unset: the request's origin. */
  publicApiUrl: string | undefined;
  /** Lists the connection (the tokens are stored by then); a failure here is logged, the person is still connected. */
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

  r.get('/connect/callback', async (req, res) => {
    const state = typeof req.query.state === 'string' ? req.query.state : '';
    const raw = state ? await opts.redis.getdel(keys.oauthConnectState(state)) : null;
    const opened = raw ? OpenedLink.safeParse(JSON.parse(raw)) : undefined;
    if (!opened?.success)
      return page(res, 400, 'This link has expired', 'Ask your agent for a new link, and open it within 10 minutes.');
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
  const readLink = (raw: string | null) => (raw ? ConnectLink.safeParse(JSON.parse(raw)) : undefined);

  // Opening the link only shows what it does: chat apps fetch links to preview them, and must not use it up.
  r.get('/connect/:token', async (req, res) => {
    const link = readLink(await opts.redis.get(keys.oauthConnectLink(req.params.token)));
    if (!link?.success) return expired(res);
    const provider = new URL(link.data.authorizeUrl);
    page(
      res,
      200,
      'Connect your account',
      `Continue to ${provider.host} to let Toolplane use your account there for ${link.data.username}. ` +
        'Your agent never sees your password or tokens.',
      { label: `Continue to ${provider.host}`, formActionOrigin: provider.origin },
    );
  });

  // The button: the link is used up, and the browser goes to the provider with `state` and a PKCE S256 challenge.
  r.post('/connect/:token', async (req, res) => {
    const link = readLink(await opts.redis.getdel(keys.oauthConnectLink(req.params.token)));
    if (!link?.success) return expired(res);
    if (!(await opts.linkBelongs(link.data))) return invalid(res);
    const state = randomBytes(32).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    const redirectUri = callbackUrl(req);
    await opts.redis.set(
      keys.oauthConnectState(state),
      JSON.stringify({ link: link.data, verifier, redirectUri }),
      'EX',
      STATE_TTL_SECONDS,
    );
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
