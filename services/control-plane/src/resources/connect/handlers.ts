import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ConnectLink, redisKeys } from '@toolplane/contracts';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { ControlPlaneDeps } from '../deps.ts';
import { oauthLinkBelongs } from '../external-users/link-binding.ts';
import { auditPersonConnect } from './audit.ts';
import {
  bindBrowser,
  bindingCookie,
  callbackUrl,
  cookieValue,
  nonceFor,
  pageFormRefusal,
  sameText,
  sha256,
} from './binding.ts';
import { expired, invalid, notFromItsPage, notFromItsPageWhy, page } from './pages.ts';

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
/** How long the worker has to exchange the code. */
const EXCHANGE_TIMEOUT_MS = 30_000;

const readLink = (raw: string | null) => (raw ? ConnectLink.safeParse(JSON.parse(raw)) : undefined);

/**
 * Whether a link's binding holds together: its person and its server are the named workspace's, and its connection
 * is that person's in that workspace. Links are written by workers; one that does not (another workspace's person or
 * server, a rewritten record) is refused before the provider and before the exchange, and stores nothing.
 */
const linkBelongs = ({ db }: ControlPlaneDeps, link: ConnectLink) => oauthLinkBelongs(db, link);

/**
 * Lists the connection and cancels its other pending links and states (the tokens are stored by then); a failure
 * here is logged, the person is still connected.
 */
const onConnected = ({ people, log }: ControlPlaneDeps, link: ConnectLink) =>
  people.connected(link).catch((err: unknown) => log.error({ err }, 'a connected account could not be listed'));

/** The worker exchanges the code and stores the tokens; no answer in time (or Redis down) is `temporarily_unavailable`. */
function exchange({ tasks }: ControlPlaneDeps, opened: OpenedLink, code: string) {
  const { link, verifier, redirectUri } = opened;
  return (
    tasks
      .exchangeOAuthCode({
        v: 1,
        taskId: randomUUID(),
        kind: 'oauth.exchange',
        link,
        code,
        verifier,
        redirectUri,
        deadlineAt: Date.now() + EXCHANGE_TIMEOUT_MS,
        replyTo: tasks.clientId,
      })
      // No worker answered in time (or Redis is down): the person is told, not shown an API error.
      .catch(() => ({ ok: false, error: 'temporarily_unavailable' }))
  );
}

/**
 * `GET /connect/callback`: the provider's redirect. The state must be an opened link's, and come with the cookie of
 * the browser that pressed its button; then the worker exchanges the code (the only reader of the app's client secret).
 */
export async function connectCallback(deps: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const keys = redisKeys(deps.prefix);
  const state = typeof req.query.state === 'string' ? req.query.state : '';
  const raw = state ? await deps.redis.getdel(keys.oauthConnectState(sha256(state))) : null;
  const opened = raw ? OpenedLink.safeParse(JSON.parse(raw)) : undefined;
  if (!opened?.success)
    return page(res, {
      status: 400,
      title: 'This link has expired',
      text: 'Ask your agent for a new link, and open it within 10 minutes.',
    });
  const browser = cookieValue(req, bindingCookie(deps.env.PUBLIC_API_URL, req));
  if (!browser || !sameText(sha256(browser), opened.data.browser))
    return page(res, {
      status: 400,
      title: 'Not connected',
      text:
        'This connection was started in another browser (or this browser did not keep the connect page’s cookie). ' +
        'Nothing was connected: open the link again from the start, in the browser you sign in to the provider with.',
    });
  const providerError = typeof req.query.error === 'string' ? req.query.error : undefined;
  if (providerError)
    return page(res, {
      status: 200,
      title: 'Not connected',
      text:
        providerError === 'access_denied'
          ? 'You did not allow access. Nothing was connected; your agent can give you a new link if you change your mind.'
          : `The provider refused the connection (${providerError}). Nothing was connected.`,
    });
  const code = typeof req.query.code === 'string' ? req.query.code : '';
  if (!code)
    return page(res, {
      status: 400,
      title: 'Not connected',
      text: 'The provider sent no authorization code. Nothing was connected.',
    });
  const { link } = opened.data;
  if (!(await linkBelongs(deps, link))) return invalid(res);
  const result = await exchange(deps, opened.data, code);
  await auditPersonConnect(deps, req, link, result.ok ? undefined : (result.error ?? 'unknown_error'));
  if (result.ok) {
    await onConnected(deps, link);
    return page(res, {
      status: 200,
      title: 'Connected',
      text: `Your account is connected for ${link.username}. You can return to your agent now.`,
    });
  }
  page(res, {
    status: result.error === 'temporarily_unavailable' ? 503 : 400,
    title: 'Not connected',
    text: `The provider did not complete the connection (${result.error ?? 'unknown error'}). Ask your agent for a new link.`,
  });
}

/**
 * `GET /connect/{token}`: opening the link only shows what it does (chat apps fetch links to preview them, and must
 * not use it up), and sets this browser's binding cookie.
 */
export async function showConnectPage(deps: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const tokenHash = sha256(req.params.token as string);
  const link = readLink(await deps.redis.get(redisKeys(deps.prefix).oauthConnectLink(tokenHash)));
  if (!link?.success) return expired(res);
  const provider = new URL(link.data.authorizeUrl);
  const browser = bindBrowser(deps.env.PUBLIC_API_URL, req, res, COOKIE_MAX_AGE_SECONDS);
  page(res, {
    status: 200,
    title: 'Connect your account',
    text:
      `Continue to ${provider.host} to let Toolplane use your account there for ${link.data.username}. ` +
      'Your agent never sees your password or tokens.',
    button: {
      label: `Continue to ${provider.host}`,
      formActionOrigin: provider.origin,
      nonce: nonceFor(browser, tokenHash),
    },
  });
}

/** The provider's authorization URL for an opened link: `state` and a PKCE S256 challenge. */
function authorizationUrl(opened: OpenedLink, state: string): string {
  const { link, verifier, redirectUri } = opened;
  const to = new URL(link.authorizeUrl);
  to.searchParams.set('response_type', 'code');
  to.searchParams.set('client_id', link.clientId);
  to.searchParams.set('redirect_uri', redirectUri);
  if (link.scopes.length > 0) to.searchParams.set('scope', link.scopes.join(' '));
  to.searchParams.set('state', state);
  to.searchParams.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
  to.searchParams.set('code_challenge_method', 'S256');
  return to.toString();
}

/**
 * Stores an opened link under its state (`STATE_TTL_SECONDS`), and swaps the link for the state in the connection's
 * index of pending ones; throws when Redis did not take it.
 */
async function storeOpened(deps: ControlPlaneDeps, opened: OpenedLink, state: string, linkKey: string) {
  const keys = redisKeys(deps.prefix);
  const stateKey = keys.oauthConnectState(sha256(state));
  const pending = keys.oauthConnectPending(opened.link.connection);
  const value = JSON.stringify(opened);
  // One MULTI on one Redis. In a cluster the state (found by its hash alone) and the index are slots apart: the index
  // takes the state first, so that a stored state is always one that ending the connection cancels.
  const written = deps.redis.isCluster
    ? [
        ...((await deps.redis.multi().sadd(pending, stateKey).expire(pending, PENDING_TTL_SECONDS).exec()) ?? []),
        ...((await deps.redis.multi().set(stateKey, value, 'EX', STATE_TTL_SECONDS).exec()) ?? []),
        ...((await deps.redis.multi().srem(pending, linkKey).exec()) ?? []),
      ]
    : await deps.redis
        .multi()
        .set(stateKey, value, 'EX', STATE_TTL_SECONDS)
        .srem(pending, linkKey)
        .sadd(pending, stateKey)
        .expire(pending, PENDING_TTL_SECONDS)
        .exec();
  const failed = written?.find(([err]) => err)?.[0];
  if (!written || written.length === 0 || failed) throw failed ?? new Error('the opened link could not be stored');
}

/**
 * `POST /connect/{token}`: the button. It must come from its own page in this browser (same origin, the cookie and
 * the form's nonce), else nothing is used up; then the link is used up, and the browser goes to the provider with
 * `state` and a PKCE S256 challenge.
 */
export async function pressConnectButton(deps: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const { redis, env } = deps;
  const tokenHash = sha256(req.params.token as string);
  const linkKey = redisKeys(deps.prefix).oauthConnectLink(tokenHash);
  // Checked before the link is used up: a refused press leaves it to its person.
  if ((await redis.exists(linkKey)) === 0) return expired(res);
  const refused = pageFormRefusal(env.PUBLIC_API_URL, req, tokenHash);
  if (refused) return notFromItsPage(res, notFromItsPageWhy[refused]);
  const browser = cookieValue(req, bindingCookie(env.PUBLIC_API_URL, req))!;
  const link = readLink(await redis.getdel(linkKey));
  if (!link?.success) return expired(res);
  if (!(await linkBelongs(deps, link.data))) return invalid(res);
  const state = randomBytes(32).toString('base64url');
  const verifier = randomBytes(32).toString('base64url');
  const redirectUri = callbackUrl(env.PUBLIC_API_URL, req);
  const opened: OpenedLink = { link: link.data, verifier, redirectUri, browser: sha256(browser) };
  await storeOpened(deps, opened, state, linkKey);
  res
    .set({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' })
    .redirect(303, authorizationUrl(opened, state));
}
