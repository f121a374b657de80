export { applyGuardrails, compileGuardrails, guardrailsFor, type CompiledGuardrail } from './scan.ts';
export { patternProblems } from './patterns.ts';
