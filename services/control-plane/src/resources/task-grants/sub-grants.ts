import type { ProblemIssue } from '@toolplane/errors';
import type { CreateTaskGrantBody } from './schemas.ts';

/**
 * Sub-grants (ADR 0113): a grant derived from another (`parent`), for a sub-agent, can only narrow it. Every field
 * that could widen is compared with the parent's and each widening is a problem at its own path: the same person
 * (who approves what it holds), tools among the parent's, no more calls, an expiry no later, `refuse` staying
 * `refuse`, `enforced` staying `enforced`; a revoked or expired parent derives nothing. The bounds need no proof: a
 * sub-grant is held to its parent's bounds and then its own (ANDed), so no bound it states can loosen one.
 */

/** The parent as the comparison reads it (a row of `task_grants`). */
export interface ParentGrant {
  readonly id: string;
  readonly person: string;
  readonly tools: readonly string[];
  readonly calls: number;
  readonly expiresAt: Date;
  readonly offGrant: string;
  readonly mode: string;
  readonly revokedAt: Date | null;
}

type Asked = Pick<CreateTaskGrantBody, 'person' | 'tools' | 'calls' | 'expiresAt' | 'offGrant' | 'mode'>;

/** Everything in `asked` that would widen `parent` (empty: it only narrows). */
export function wideningProblems(parent: ParentGrant, asked: Asked, now = Date.now()): ProblemIssue[] {
  const problems: ProblemIssue[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  if (parent.revokedAt !== null) add('/parent', `the task grant ${parent.id} was revoked: nothing derives from it`);
  else if (parent.expiresAt.getTime() <= now)
    add('/parent', `the task grant ${parent.id} expired: nothing derives from it`);
  if (asked.person !== parent.person)
    add('/person', `is not the parent grant’s person "${parent.person}": a sub-grant acts for the same person`);
  asked.tools.forEach((t, i) => {
    if (!parent.tools.includes(t)) add(`/tools/${i}`, `the parent grant does not cover "${t}"`);
  });
  if (asked.calls > parent.calls) add('/calls', `${asked.calls} is more than the parent grant’s ${parent.calls}`);
  if (Date.parse(asked.expiresAt) > parent.expiresAt.getTime())
    add('/expiresAt', `is after the parent grant’s expiry (${parent.expiresAt.toISOString()})`);
  if (asked.offGrant === 'hold' && parent.offGrant === 'refuse')
    add('/offGrant', 'is "hold" where the parent grant refuses: an off-grant call would get an approval it cannot get');
  if (asked.mode === 'log_only' && parent.mode === 'enforced')
    add('/mode', 'is "log_only" where the parent grant is enforced: off-grant calls would go on');
  return problems;
}
