import express, { Router } from 'express';
import { changeRequestPage } from '../change-requests/page.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { served } from '../connect/pages.ts';
import { approvalPage } from './page.ts';

/**
 * People's approval pages (ADR 0049), outside the management API: the link is the credential (opaque, single-use,
 * until the request's expiry, made by `POST /approvals/{id}/links`). Bound to one browser as connect links are (ADR
 * 0027): the page sets the binding cookie and puts a nonce derived from it in its form; the form's POST must come from
 * the page itself with that nonce and cookie, else it is refused before anything is decided.
 */
export function approvalPageRouter(deps: ControlPlaneDeps): Router {
  const page = served(deps);
  const r = Router();
  r.get('/approve/:token', page(approvalPage.show));
  r.post('/approve/:token', express.urlencoded({ extended: false, limit: '16kb' }), page(approvalPage.decide));
  // A change request's (ADR 0079): the same kind of page, bound the same way.
  r.get('/approve-change/:token', page(changeRequestPage.show));
  r.post(
    '/approve-change/:token',
    express.urlencoded({ extended: false, limit: '16kb' }),
    page(changeRequestPage.decide),
  );
  return r;
}
