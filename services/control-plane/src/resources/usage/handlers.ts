import { NotFoundError } from '@toolplane/errors';
import { isUuid } from '../../db/ids.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { quotaUsage } from './counters.ts';
import { usageReport } from './report.ts';
import type { UsageQuery } from './schemas.ts';

/** `GET /usage`: calls and cost units from the usage rollup, per day, server, tool, API key and person. */
export async function getUsage({ db }: ControlPlaneDeps, { caller, query }: Input<undefined, UsageQuery>) {
  return usageReport(db, caller.workspaceId, query);
}

/** `GET /quotas/{id}/usage`: how much of a quota is used and left in its current window, from the edges' counters. */
export async function getQuotaUsage(
  { db, redis, prefix }: ControlPlaneDeps,
  { caller, params }: Input<undefined, Record<string, unknown>, { id: string }>,
) {
  const quota = isUuid(params.id)
    ? await db.quota.findFirst({ where: { id: params.id, workspaceId: caller.workspaceId } })
    : null;
  if (!quota) throw new NotFoundError('quota', params.id);
  return quotaUsage(redis, prefix, quota);
}
