import type { StepIR, WorkflowDocumentIR } from './ir.ts';

/**
 * What one call of a workflow tool costs against cost quotas (ADR 0048, docs/workflows.md "Cost"): the workflow's
 * declared cost (`WorkflowIR.cost`), else the sum of its steps' costs and of its dependencies' (`dependsOn`). A step
 * costs what its target costs: an HTTP step its operation's declared cost (`StepIR.cost`), a tool step the tool's
 * cost in its catalog (`toolCost(ref)`), a workflow step that workflow's cost; anything else, 1.
 *
 * One pass through the steps as written: a retry, a goto or a loop is not multiplied, and a workflow an action jumps
 * to is not added (declare the cost where that matters). A dependency runs once per call, so it is counted once
 * however many workflows depend on it; a workflow step calling a workflow already being counted (a cycle) adds
 * nothing.
 */
export function workflowCost(
  doc: Pick<WorkflowDocumentIR, 'workflows'>,
  workflowId: string,
  toolCost: (ref: string) => number | undefined,
): number {
  const byId = new Map(doc.workflows.map((w) => [w.id, w]));
  const dependencies = new Set<string>();
  const cost = (id: string, stack: readonly string[]): number => {
    const w = byId.get(id);
    if (!w || stack.includes(id)) return 0;
    if (w.cost !== undefined) return w.cost;
    const inner = [...stack, id];
    let sum = 0;
    for (const dep of w.dependsOn) {
      if (dependencies.has(dep)) continue;
      dependencies.add(dep);
      sum += cost(dep, inner);
    }
    const stepCost = (s: StepIR): number =>
      s.target.kind === 'workflow'
        ? cost(s.target.workflowId, inner)
        : s.target.kind === 'tool'
          ? (toolCost(s.target.ref) ?? 1)
          : (s.cost ?? 1);
    return w.steps.reduce((n, s) => n + stepCost(s), sum);
  };
  return cost(workflowId, []);
}
