import { previewResultShape } from '../../catalog/result-shapes.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { findServer } from './lookup.ts';
import type { ResultShapePreviewBody } from './schemas.ts';

/**
 * `POST /mcp_manager/{id}/result_shapes/preview`: the server's result shape of a tool (or the one given) applied to a
 * sample of its result, as the worker applies it (ADR 0052); nothing is saved or called.
 */
export async function previewShape({ db }: ControlPlaneDeps, { params, caller, body }: Input<ResultShapePreviewBody>) {
  const row = await findServer(db, caller.workspaceId, params.id!);
  return previewResultShape(row.config, body);
}
