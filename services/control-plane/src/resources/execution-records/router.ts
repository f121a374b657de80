import type { Router } from 'express';
import { apiRouter } from '../../http/route-access.ts';
import { handle, type ControlPlaneDeps } from '../deps.ts';
import { getExecutionRecord, listExecutionRecords } from './handlers.ts';

/**
 * Execution records, one per tool call (read-only here: workers write them through a Redis stream, store.ts
 * stores them; retention.ts deletes the old ones).
 */
export function executionRecordsRouter(deps: ControlPlaneDeps): Router {
  const r = apiRouter();
  r.get('/', handle(deps, listExecutionRecords));
  r.get('/:id', handle(deps, getExecutionRecord));
  return r;
}
