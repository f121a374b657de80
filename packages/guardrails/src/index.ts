export {
  applyGuardrails,
  compileGuardrails,
  guardrailsFor,
  type CompiledGuardrail,
  type GuardrailOutcome,
  type ScanOptions,
} from './scan.ts';
export { patternProblems } from './patterns.ts';
