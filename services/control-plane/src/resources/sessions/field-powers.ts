import type { Caller } from '../../http/auth.ts';
import { refuseLoosening, type FieldPower } from '../governing.ts';
import type { PutSessionSettingsBody } from './schemas.ts';

/**
 * Every field of `PUT /session_settings` (ADR 0078): the session rules and how long a session keeps its labels. Each
 * can loosen a rule (a rule removed or made log only, labels forgotten sooner).
 */
export const sessionSettingsFields = {
  ttlSeconds: 'governing',
  rules: 'governing',
} as const satisfies Record<keyof PutSessionSettingsBody, FieldPower>;

/** 403 unless `caller` may change access policies: every field of the settings can loosen a rule. */
export function refuseSettingsLoosening(caller: Caller): void {
  refuseLoosening(caller, 'the session settings', Object.keys(sessionSettingsFields));
}
