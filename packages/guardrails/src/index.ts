export { applyGuardrails, compileGuardrails, guardrailsFor, scans, type CompiledGuardrail } from './scan.ts';
export { patternProblems } from './patterns.ts';
