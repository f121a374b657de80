import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import type { StatsQuery } from './schemas.ts';
import { trafficStats } from './traffic.ts';

/** `GET /stats`: the workspace's traffic (or one server's, or one tool's) over the last hour or day. */
export async function getTrafficStats({ db }: ControlPlaneDeps, { caller, query }: Input<undefined, StatsQuery>) {
  return trafficStats(db, caller.workspaceId, query);
}
