import type { Response } from 'express';

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** What a page says, and maybe its one button (posting to the page, then redirecting to `formActionOrigin`). */
interface PageContent {
  status: number;
  title: string;
  text: string;
  button?: { label: string; formActionOrigin: string; nonce: string };
}

/** A page for the person (not for the agent): what happened and what to do now, and maybe one button. */
export function page(res: Response, { status, title, text, button }: PageContent): void {
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

/** A press of the button that did not come from its own page in this browser. */
export const notFromItsPage = (res: Response, why: string) =>
  page(res, {
    status: 403,
    title: 'Not connected',
    text: `${why} Nothing was connected: open the link again from the start.`,
  });
