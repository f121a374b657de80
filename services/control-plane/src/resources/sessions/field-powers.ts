import type { FieldPower } from '../governing.ts';
import type { PutSessionSettingsBody } from './schemas.ts';

/**
 * Every field of `PUT /session_settings` (ADR 0078): the session rules and how long a session keeps its labels. Each
 * can loosen a rule (a rule removed or made log only, labels forgotten sooner).
 */
export const sessionSettingsFields = {
  ttlSeconds: 'governing',
  rules: 'governing',
} as const satisfies Record<keyof PutSessionSettingsBody, FieldPower>;
