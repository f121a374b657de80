import { json, problems } from '../../openapi/registry.ts';
import { post, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { Reachability } from './openapi.ts';
import { ReachabilityBody } from './schemas.ts';

/** Who can reach what (docs/governance.md "Who can reach what", ADR 0107). */
export const reachabilityOperations: Operation[] = [
  // It reads every policy of the workspace: a key limited to servers may not. It changes nothing: no audit event.
  post('/governance/reachability', 'reachability', {
    tags: ['reachability'],
    summary: 'Who can reach a tool, under which conditions on its arguments and the session, with and without a person',
    description:
      'For each principal the access policies name (API keys, people, the members of groups; or the one asked ' +
      'about): whether the tool is granted, the condition each call must meet (the policies’ conditions combined), ' +
      'and whether a call goes through without a person and with one (a confirmation, an approval): `yes` with a ' +
      'witness (arguments, and the session when a condition reads it, of a call that goes through), `no` (the ' +
      'solver proved that no call does: `unsat`) or `undecided` with why (a condition outside the translated ' +
      'subset: docs/governance.md "Who can reach what"). Decided by the edge’s own code on the policies the edges ' +
      'have, and the tool’s input schema; quotas, guardrails, session rules and narrowed tokens are not part of it.',
    'x-server-limited-keys': 'refused',
    'x-audit': false,
    responses: { 200: json('Each principal’s reach.', Reachability), ...problems(403, 413, 415, 422) },
    body: ReachabilityBody,
    handler: handlers.reach,
  }),
];
