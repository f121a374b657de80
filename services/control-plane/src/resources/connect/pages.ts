import type { Request, RequestHandler, Response } from 'express';
import type { ControlPlaneDeps } from '../deps.ts';

export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** What a page says, and maybe its one button (posting to the page, then redirecting to `formActionOrigin`). */
interface PageContent {
  status: number;
  title: string;
  text: string;
  button?: { label: string; formActionOrigin: string; nonce: string };
}

/**
 * A page for a person, with the security headers of every such page: nothing loads but the page itself, no framing, no
 * caching. `main` is HTML made with `escapeHtml`. `form`: the page holds a form posting to itself (`also`: another
 * origin its answer may redirect to).
 */
export function htmlPage(
  res: Response,
  { status, title, main, form }: { status: number; title: string; main: string; form?: { also?: string } },
): void {
  res
    .status(status)
    .set({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // The form posts here (and a connect page's answer redirects to the provider): the only allowed form targets.
      'content-security-policy': `default-src 'none'; frame-ancestors 'none'; form-action 'self'${
        form?.also ? ` ${form.also}` : ''
      }`,
      // The form's POST must carry this page's Origin (with `no-referrer` browsers send `Origin: null`); nothing,
      // not even the origin, goes to another site.
      'referrer-policy': form ? 'same-origin' : 'no-referrer',
    })
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
        `<body><main><h1>${escapeHtml(title)}</h1>${main}</main></body></html>`,
    );
}

/**
 * Pages, not API operations: they render HTML (and redirect), so their handlers read the request and write the answer
 * themselves; `served(deps)(h)` is `h` as a route's handler.
 */
export const served =
  (deps: ControlPlaneDeps) =>
  (h: (d: ControlPlaneDeps, req: Request, res: Response) => Promise<void>): RequestHandler =>
  (req, res) =>
    h(deps, req, res);

/** The hidden field carrying a form's nonce (`nonceFor`). */
export const nonceField = (nonce: string) => `<input type="hidden" name="nonce" value="${escapeHtml(nonce)}">`;

/** A page for the person (not for the agent): what happened and what to do now, and maybe one button. */
export function page(res: Response, { status, title, text, button }: PageContent): void {
  const form = button
    ? `<form method="post">${nonceField(button.nonce)}` +
      `<button type="submit">${escapeHtml(button.label)}</button></form>`
    : '';
  htmlPage(res, {
    status,
    title,
    main: `<p>${escapeHtml(text)}</p>${form}`,
    ...(button ? { form: { also: button.formActionOrigin } } : {}),
  });
}

/** A link used, expired or never made. */
export const expired = (res: Response) =>
  page(res, {
    status: 410,
    title: 'This link has expired',
    text: 'Connect links work once, for 10 minutes. Ask your agent for a new one (calling the tool again gives one).',
  });

/** A link whose binding does not hold together (`linkBelongs`). */
export const invalid = (res: Response) =>
  page(res, {
    status: 400,
    title: 'This link is not valid',
    text: 'Nothing was connected. Ask your agent for a new link.',
  });

/** Why a page's form was refused (`pageFormRefusal`), as the person reads it. */
export const notFromItsPageWhy = {
  origin: 'This button works only on its own page, not from another site.',
  cookie:
    'This button’s page was not opened in this browser, or the browser did not keep its cookie (it must accept ' +
    'cookies from this site).',
} as const;

/** A press of the button that did not come from its own page in this browser. */
export const notFromItsPage = (res: Response, why: string) =>
  page(res, {
    status: 403,
    title: 'Not connected',
    text: `${why} Nothing was connected: open the link again from the start.`,
  });
