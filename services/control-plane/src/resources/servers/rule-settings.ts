import { portableRules, ruleSettingsProblems } from '@toolplane/access';
import { ValidationError } from '@toolplane/errors';

/**
 * Refuses (422, every problem listed at its path) a server's `ruleSettings` that names no portable rule or that its
 * rule's own schema refuses (ADR 0101). Absent or null: nothing to check.
 */
export function refuseBadRuleSettings(value: Readonly<Record<string, unknown>> | null | undefined): void {
  if (!value) return;
  const problems = ruleSettingsProblems(portableRules, value);
  if (problems.length > 0) throw new ValidationError('the rule settings are invalid', problems);
}
