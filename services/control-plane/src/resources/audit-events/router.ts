import type { Router } from 'express';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import { listAuditEvents, signIn } from './handlers.ts';

/**
 * The audit trail, read-only (ADR 0037: events are written with the changes, db/audited-db.ts, and at the end of
 * requests, http/audit.ts), and the dashboard's sign-ins (mounted at the API's root: two resources' paths).
 */
export function auditEventsRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.get('/audit_events', handle(deps, listAuditEvents));
  r.post('/sign_ins', handle(deps, signIn));
  return r;
}
