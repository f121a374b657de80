import { NotFoundError } from '@toolplane/errors';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { proposalFiles } from './files.ts';
import { leastPrivilege } from './report.ts';
import type { LeastPrivilegeQuery, ProposalQuery } from './schemas.ts';

/** `GET /least_privilege`: grants against use, narrowest policies, peak quotas and findings per principal. */
export async function getLeastPrivilege(
  { db }: ControlPlaneDeps,
  { caller, query }: Input<undefined, LeastPrivilegeQuery>,
) {
  return leastPrivilege(db, caller.workspaceId, query);
}

/** `GET /least_privilege/proposal`: one principal's proposal as workspace files (404: no records in the period). */
export async function getLeastPrivilegeProposal(
  { db }: ControlPlaneDeps,
  { caller, query }: Input<undefined, ProposalQuery>,
) {
  const report = await leastPrivilege(db, caller.workspaceId, query);
  const entry = report.principals[0];
  if (!entry)
    throw new NotFoundError('principal with calls in the period', `${query.principal.type}:${query.principal.id}`);
  return proposalFiles(entry);
}
