import type { ResourceBackground } from '../background.ts';
import { applyApprovalsRetention } from './retention.ts';

/** Ended approval requests older than APPROVALS_RETENTION_DAYS deleted (the edges' requests arrive as audit events). */
export const approvalsBackground: ResourceBackground = ({ deps, ingestPool }) => ({
  retention: async (now) => ({
    approvals: await applyApprovalsRetention(ingestPool, now, deps.env.APPROVALS_RETENTION_DAYS),
  }),
});
