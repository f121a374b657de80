import type { Request, Response } from 'express';
import { caller } from '../../http/auth.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { StatsQuery } from './schemas.ts';
import { trafficStats } from './traffic.ts';

/** `GET /stats`: the workspace's traffic (or one server's, or one tool's) over the last hour or day. */
export async function getTrafficStats({ db }: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  res.json(await trafficStats(db, caller(req).workspaceId, StatsQuery.parse(req.query)));
}
