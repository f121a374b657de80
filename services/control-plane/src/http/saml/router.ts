import { randomUUID } from 'node:crypto';
import type { AuditActor, AuditEventInput } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import express, { type Request, type Response, type Router } from 'express';
import type { AuditTrail } from '../../db/audit-trail.ts';
import { clientKey } from '@toolplane/config';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { apiRouter } from '../api-router.ts';
import { rateLimited } from '../limits.ts';
import { auditSourceOf } from '../audit.ts';
import { returnPath, SamlRefusal } from './checks.ts';
import { SamlSignIn } from './sign-in.ts';

/** Where the dashboard completes a SAML sign-in (a page of the dashboard, not a route of this router). */
const samlCallbackPath = '/saml/callback';

/** The origin the request came to (behind a proxy, per TRUST_PROXY): the ACS URL's when PUBLIC_API_URL is unset. */
function originOf(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

/**
 * What an address may cost the SAML routes without signing in (UNAUTH_RATE_LIMIT per UNAUTH_RATE_WINDOW_SECONDS, as
 * the management API's 401s): every AuthnRequest started (each keeps a request id in Redis), every refused response
 * (each a signature check) and every unknown code spend one; past it, 429 until the window ends, before any work.
 */
interface SamlBudget {
  check(req: Request): Promise<void>;
  spend(req: Request): void;
}

function samlBudget(points: number, windowSeconds: number): SamlBudget {
  const limiter = points > 0 ? new RateLimiterMemory({ points, duration: windowSeconds }) : undefined;
  return {
    async check(req) {
      const state = limiter && (await limiter.get(clientKey(req.ip)));
      if (state && state.consumedPoints >= points)
        throw rateLimited(state.msBeforeNext, 'too many SAML sign-in attempts from this address');
    },
    spend(req) {
      limiter?.consume(clientKey(req.ip)).catch(() => undefined);
    },
  };
}

/** A refused or completed sign-in, as its audit event. */
function signInEvent(
  req: Request,
  what: { workspaceId: string | null; actor: AuditActor; outcome: 'success' | 'refused'; reason?: string },
): AuditEventInput {
  return {
    id: randomUUID(),
    at: new Date().toISOString(),
    workspaceId: what.workspaceId,
    actor: what.actor,
    action: 'saml.sign_in',
    resource: { type: 'session', id: null },
    outcome: what.outcome,
    status: what.outcome === 'success' ? 303 : 401,
    source: auditSourceOf(req),
    changes: null,
    details: { method: 'saml', ...(what.reason ? { reason: what.reason } : {}) },
  };
}

/**
 * The ACS (HTTP-POST binding): a response checked end to end (SamlSignIn.accept); a session opened and handed to the
 * dashboard through a one-time code (`/saml/callback?code=…`): its token is never in an address. A refusal sends the person to the
 * same page with the reason (`?error=…`): no session. Both are in the audit trail (`saml.sign_in`: a refusal in the
 * unauthenticated chain, with the reason; a sign-in in its workspace's).
 */
function acs(saml: SamlSignIn, deps: { trail: AuditTrail; log: Logger; budget: SamlBudget }) {
  return async (req: Request, res: Response) => {
    await deps.budget.check(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const back = new URL(samlCallbackPath, 'http://x');
    let event: AuditEventInput;
    try {
      const { session } = await saml.accept(originOf(req), body.SAMLResponse);
      back.searchParams.set('code', await saml.store.open(session, returnPath(body.RelayState)));
      const actor: AuditActor = { type: 'oauth_subject', id: session.subject, name: null };
      event = signInEvent(req, { workspaceId: session.workspaceId, actor, outcome: 'success' });
    } catch (err) {
      if (!(err instanceof SamlRefusal)) throw err;
      deps.budget.spend(req);
      deps.log.info(
        { reason: err.message, cause: err.cause instanceof Error ? err.cause.message : undefined },
        'SAML sign-in refused',
      );
      back.searchParams.set('error', err.message);
      const actor: AuditActor = { type: 'anonymous', id: null, name: null };
      event = signInEvent(req, { workspaceId: null, actor, outcome: 'refused', reason: err.message });
    }
    await deps.trail.appendAlone(event);
    res.setHeader('x-request-id', event.source.requestId ?? '');
    res.setHeader('cache-control', 'no-store');
    res.redirect(303, back.pathname + back.search);
  };
}

/** `POST /saml/token`: the dashboard redeems a sign-in's code (once) for the session's bearer token. */
function token(saml: SamlSignIn, budget: SamlBudget) {
  return async (req: Request, res: Response) => {
    await budget.check(req);
    const code = (req.body as { code?: unknown } | undefined)?.code;
    const redeemed = typeof code === 'string' && code.length <= 128 ? await saml.store.redeem(code) : undefined;
    if (!redeemed) budget.spend(req);
    if (!redeemed)
      throw new UserError('request.invalid', 'the sign-in code is unknown, used or expired: sign in again', {
        status: 400,
      });
    res.setHeader('cache-control', 'no-store');
    res.json({
      access_token: redeemed.token,
      token_type: 'Bearer',
      expires_in: Math.max(0, Math.floor((redeemed.session.expiresAt - Date.now()) / 1000)),
      scopes: redeemed.session.scopes,
      subject: redeemed.session.subject,
      return_to: redeemed.returnTo,
    });
  };
}

/**
 * SAML sign-in's routes (ADR 0083), outside the management API: the service provider's metadata, the start of an
 * SP-initiated sign-in (a redirect to the identity provider with an AuthnRequest), the ACS, the code's redemption, and
 * signing out (the session's token ended).
 */
export function samlRouter(
  saml: SamlSignIn,
  deps: { trail: AuditTrail; log: Logger; limit: { points: number; windowSeconds: number } },
): Router {
  const budget = samlBudget(deps.limit.points, deps.limit.windowSeconds);
  const r = apiRouter();
  r.get('/saml/metadata', (req, res) => {
    res.type('application/samlmetadata+xml').send(saml.metadata(originOf(req)));
  });
  r.get('/saml/login', async (req, res) => {
    await budget.check(req);
    budget.spend(req);
    const url = await saml.loginUrl(originOf(req), returnPath(req.query.return_to));
    res.setHeader('cache-control', 'no-store');
    res.redirect(302, url);
  });
  r.post('/saml/acs', express.urlencoded({ extended: false, limit: '512kb' }), acs(saml, { ...deps, budget }));
  r.post('/saml/token', express.json({ limit: '4kb' }), token(saml, budget));
  // Signing out ends the session here too (an OAuth issuer's token lives on until it expires: not ours to end).
  r.post('/saml/sign_out', async (req, res) => {
    const bearer = /^Bearer +(\S+) *$/i.exec(req.header('authorization') ?? '')?.[1];
    if (bearer && SamlSignIn.owns(bearer)) await saml.store.end(bearer);
    res.status(204).end();
  });
  return r;
}
