import type { ProblemIssue } from '@toolplane/errors';
import { costExtension, isCost } from '@toolplane/openapi';
import { checkCriterion } from './criteria.ts';
import { checkTemplate, collectRefs, conditionRefs, type ExpressionRef, parseCondition } from './expressions.ts';
import type { CriterionIR, Dialect, JsonSchemaObject, OrderedMap, StepIR, WorkflowIR } from './ir.ts';

/** Problems found while compiling: errors stop the deployment, warnings are reported with it. */
export class Problems {
  readonly errors: ProblemIssue[] = [];
  readonly warnings: ProblemIssue[] = [];
  error(path: string, message: string): void {
    this.errors.push({ path, message });
  }
  warn(path: string, message: string): void {
    this.warnings.push({ path, message });
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A workflow's own cost against cost quotas (`x-toolplane-cost` on it, ADR 0048): `{ cost }` when it declares a
 * whole number of at least 0, nothing when it declares none; any other value is a problem of the document at its path.
 */
export function declaredCost(raw: Record<string, unknown>, path: string, problems: Problems): { cost?: number } {
  const v = raw[costExtension];
  if (v === undefined) return {};
  if (isCost(v)) return { cost: v };
  problems.error(
    `${path}/${escapePointer(costExtension)}`,
    'must be a whole number of at least 0: what one call of the workflow costs against cost quotas',
  );
  return {};
}

/** The implicit success criterion of an HTTP step whose document gives none (docs/workflows.md). */
export const implicitSuccess: CriterionIR = { type: 'simple', condition: '$statusCode < 400' };

/** A workflow's input schema with an object root (Flower documents often omit `type: object`). */
export function objectInputSchema(schema: unknown, path: string, problems: Problems): JsonSchemaObject {
  if (schema === undefined || schema === null) return { type: 'object', properties: {} };
  if (!isObject(schema)) {
    problems.error(path, 'inputs must be a JSON Schema object');
    return { type: 'object', properties: {} };
  }
  const out: JsonSchemaObject = { ...schema };
  if (out.type === undefined) out.type = 'object';
  else if (out.type !== 'object')
    problems.error(`${path}/type`, 'the inputs of a workflow must be an object schema (tool arguments are an object)');
  if (out.properties === undefined) out.properties = {};
  return out;
}

/** Checks value templates and records the references they make. */
export function checkValue(value: unknown, path: string, dialect: Dialect, problems: Problems, refs: RefUse[]): void {
  for (const p of checkTemplate(value, dialect)) problems.error(path, p);
  for (const ref of collectRefs(value, dialect)) refs.push({ ref, path });
}

export function checkCriteria(
  criteria: readonly CriterionIR[],
  path: string,
  dialect: Dialect,
  problems: Problems,
  refs: RefUse[],
): void {
  criteria.forEach((c, i) => {
    const p = `${path}/${i}`;
    const problem = checkCriterion(c, dialect);
    if (problem) {
      problems.error(`${p}/condition`, problem);
      return;
    }
    if (c.type === 'simple')
      for (const ref of conditionRefs(parseCondition(c.condition, dialect))) refs.push({ ref, path: `${p}/condition` });
    if (c.context) checkValue(c.context, `${p}/context`, dialect, problems, refs);
  });
}

export interface RefUse {
  ref: ExpressionRef;
  path: string;
}

/**
 * Checks `$steps.<id>` references against the workflow's steps: an unknown step is an error (the
 * value could never resolve); an output the step does not declare is a warning (it reads as absent).
 */
export function checkStepRefs(workflow: WorkflowIR, refs: readonly RefUse[], problems: Problems): void {
  const steps = new Map<string, StepIR>(workflow.steps.map((s) => [s.id, s]));
  for (const { ref, path } of refs) {
    if (ref.root !== 'steps') continue;
    const [id, part, name] = ref.path;
    if (id === undefined) continue;
    const step = steps.get(id);
    if (!step) {
      problems.error(
        path,
        `${ref.text} refers to step ${JSON.stringify(id)}, which workflow ${JSON.stringify(workflow.id)} does not have`,
      );
      continue;
    }
    if (part === undefined) continue;
    if (part !== 'outputs' && part !== 'request' && part !== 'response') {
      problems.warn(
        path,
        `${ref.text}: a step exposes outputs, request and response; ${JSON.stringify(part)} always reads as absent`,
      );
    } else if (part === 'outputs' && name !== undefined && !step.outputs.some(([declared]) => declared === name)) {
      problems.warn(
        path,
        `${ref.text}: step ${JSON.stringify(id)} declares no output ${JSON.stringify(name)}; it reads as absent`,
      );
    }
  }
}

/**
 * Outputs are evaluated in declaration order: `$outputs.<name>` in an output sees only the outputs
 * declared above it. A reference to one declared below it (or not at all) always reads as absent: a
 * warning naming the output (docs/workflows.md, "Declaration order").
 */
export function checkOutputOrder(
  outputs: OrderedMap<unknown>,
  path: string,
  dialect: Dialect,
  problems: Problems,
): void {
  const above = new Set<string>();
  for (const [name, value] of outputs) {
    for (const ref of collectRefs(value, dialect)) {
      const target = ref.path[0];
      if (ref.root !== 'outputs' || target === undefined || above.has(target)) continue;
      const later = outputs.some(([n]) => n === target);
      problems.warn(
        `${path}/${escapePointer(name)}`,
        later
          ? `${ref.text}: the output ${JSON.stringify(target)} is declared below ${JSON.stringify(name)}, ` +
              'and outputs are evaluated in declaration order; it reads as absent (declare it first)'
          : `${ref.text}: there is no output ${JSON.stringify(target)} declared above ${JSON.stringify(name)}; it reads as absent`,
      );
    }
    above.add(name);
  }
}

/**
 * A request body template as the IR keeps it: an object or array as its JSON text, so that its fields
 * keep their order through `jsonb`; the engine parses a JSON text payload back before evaluating it,
 * exactly as it evaluates an object payload.
 */
export function storedPayload(payload: unknown): unknown {
  return payload !== null && typeof payload === 'object' ? JSON.stringify(payload) : payload;
}

export function secretNames(refs: readonly RefUse[]): string[] {
  const names = new Set<string>();
  for (const { ref } of refs) if (ref.root === 'secrets' && ref.path.length > 0) names.add(ref.path.join('.'));
  return [...names].sort();
}

/** Adds, to each workflow, the secrets of the workflows it may run (dependencies, workflow steps, gotos). */
export function closeSecrets(workflows: WorkflowIR[]): void {
  const byId = new Map(workflows.map((w) => [w.id, w]));
  const callees = (w: WorkflowIR): string[] => {
    const out = [...w.dependsOn];
    for (const s of w.steps) {
      if (s.target.kind === 'workflow') out.push(s.target.workflowId);
      for (const a of [...s.onSuccess, ...s.onFailure]) if (a.workflowId) out.push(a.workflowId);
    }
    return out;
  };
  const own = new Map(workflows.map((w) => [w.id, new Set(w.secrets)]));
  for (const w of workflows) {
    const all = new Set<string>();
    const seen = new Set<string>();
    const visit = (id: string): void => {
      if (seen.has(id)) return;
      seen.add(id);
      for (const n of own.get(id) ?? []) all.add(n);
      const callee = byId.get(id);
      if (callee) for (const c of callees(callee)) visit(c);
    };
    visit(w.id);
    w.secrets = [...all].sort();
  }
}

export function escapePointer(token: string | number): string {
  return String(token).replace(/~/g, '~0').replace(/\//g, '~1');
}
