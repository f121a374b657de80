import { json, problems } from '../../openapi/registry.ts';
import { get, type Operation } from '../operation.ts';
import { PRINCIPALS_MAX } from './aggregate.ts';
import * as handlers from './handlers.ts';
import { LeastPrivilege, LeastPrivilegeProposal } from './openapi.ts';
import { MAX_DAYS } from './report.ts';
import { LeastPrivilegeQuery, ProposalQuery } from './schemas.ts';

const tags = ['least-privilege'];

/**
 * Least privilege proposed from use (docs/governance.md "Least privilege proposed from use"): per API key
 * and person, from the execution records of a period, grants never used, the narrowest policies, peak quotas, and the
 * tools whose results or arguments had secrets-like or personal data.
 */
export const leastPrivilegeOperations: Operation[] = [
  get('/least_privilege', 'getLeastPrivilege', {
    tags,
    summary: 'Grants never used, the narrowest policies and peak quotas per API key and person, from use',
    description:
      'Computed from the execution records of the period (SQL aggregates; at most ' +
      `${MAX_DAYS} days) and the policies as the edges decide them now: per principal with records (the busiest ` +
      `${PRINCIPALS_MAX}), what it may call, what it called, the granted servers and tools it never used, one ` +
      'policy per server used naming only the tools called, calls quotas at the peak hour and day × `margin`, ' +
      'and the `secrets:*` / `pii:*` guardrail findings per tool. Only calls that ran are use: a call never sent ' +
      '(refused by any rule, held for an approval, over a quota, unconfirmed) is counted as refused. ' +
      'Admins and auditors read it; a key limited to servers may not.',
    responses: { 200: json('The proposals.', LeastPrivilege), ...problems(403, 422) },
    query: LeastPrivilegeQuery,
    handler: handlers.getLeastPrivilege,
  }),
  get('/least_privilege/proposal', 'getLeastPrivilegeProposal', {
    tags,
    summary: 'One principal’s least-privilege proposal as workspace files, for plan and apply',
    description:
      'The policies and quotas of `GET /least_privilege` for one principal as workspace files ' +
      '(`access-policies/<name>.yaml`, `quotas/<name>.yaml`; servers and keys by name): what ' +
      '`toolplane workspace plan|apply` (or `POST /workspace_files/plan|apply` without `prune`) takes. Grants add ' +
      'up: `notes` names the policies that grant the principal more. 404: no records of it in the period.',
    responses: { 200: json('The files.', LeastPrivilegeProposal), ...problems(403, 404, 422) },
    query: ProposalQuery,
    handler: handlers.getLeastPrivilegeProposal,
  }),
];
