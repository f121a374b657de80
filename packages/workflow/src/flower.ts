import { ValidationError } from '@toolplane/errors';
import {
  checkCriteria,
  checkOutputOrder,
  checkStepRefs,
  checkValue,
  closeSecrets,
  declaredCost,
  escapePointer,
  implicitSuccess,
  isObject,
  objectInputSchema,
  Problems,
  type RefUse,
  secretNames,
  storedPayload,
} from './compile-common.ts';
import type { ActionIR, CriterionIR, ParameterIR, StepIR, WorkflowDocumentIR, WorkflowIR } from './ir.ts';
import { parseToolRef, toolRefForms } from './tool-refs.ts';
import { validateFlowerSchema } from './validate.ts';

/**
 * Flower 0.1 → IR. Flower has no success criteria: a step "succeeds" when the upstream answers
 * below 400, and its one `actions` list (first matching `when` wins) serves both outcomes. With no
 * matching action a successful step goes on to the next one and a failed step fails the flow.
 */

export interface CompileResult {
  ir: WorkflowDocumentIR;
  warnings: { path: string; message: string }[];
}

const methods = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

/** Flower defaults (docs.bump.sh): `wait` 5 s, `max_retry` 5. */
const defaultWaitSeconds = 5;
const defaultMaxRetry = 5;

interface FlowerAction {
  do: string;
  when?: string;
  wait?: number;
  max_retry?: number;
  step?: string;
}

function compileActions(
  actions: unknown,
  path: string,
  stepIds: Set<string>,
  problems: Problems,
  refs: RefUse[],
): ActionIR[] {
  if (!Array.isArray(actions)) return [];
  return (actions as FlowerAction[]).map((a, i) => {
    const p = `${path}/${i}`;
    const criteria: CriterionIR[] = a.when === undefined ? [] : [{ type: 'simple', condition: a.when }];
    checkCriteria(criteria, p, 'flower', problems, refs);
    // checkCriteria names `/0/condition`; a Flower author wrote `when`.
    for (const e of problems.errors) if (e.path === `${p}/0/condition`) e.path = `${p}/when`;
    for (const r of refs) if (r.path === `${p}/0/condition`) r.path = `${p}/when`;
    const type = a.do as ActionIR['type'];
    const action: ActionIR = { type, criteria };
    if (type === 'retry') {
      action.retryAfterMs = (a.wait ?? defaultWaitSeconds) * 1000;
      action.retryLimit = a.max_retry ?? defaultMaxRetry;
      action.onExhausted = 'fail';
      if (action.retryAfterMs < 0) problems.error(`${p}/wait`, 'must not be negative');
      if (action.retryLimit < 0) problems.error(`${p}/max_retry`, 'must not be negative');
    }
    if (type === 'goto') {
      action.stepId = a.step;
      if (a.step !== undefined && !stepIds.has(a.step))
        problems.error(`${p}/step`, `there is no step ${JSON.stringify(a.step)} in this flow`);
    }
    return action;
  });
}

/**
 * A step whose `request.url` names a tool of the workspace (tool-refs.ts): a `POST` of the tool's arguments (the
 * body), written out (no expression), with no query or headers (a tool call has neither).
 */
function toolTarget(
  req: Record<string, unknown>,
  method: string,
  url: string,
  path: string,
  problems: Problems,
): StepIR['target'] | undefined {
  const ref = parseToolRef(url);
  if (!ref) {
    problems.error(`${path}/url`, `${url} names no tool: write ${toolRefForms} (written out, no expression)`);
    return undefined;
  }
  if (method !== 'POST')
    problems.error(`${path}/method`, 'a step calling a tool is a POST (its body holds the tool’s arguments)');
  for (const where of ['query', 'headers'] as const)
    if (req[where] !== undefined)
      problems.error(`${path}/${where}`, `a step calling a tool sends no ${where}: its arguments are the body`);
  if (req.body !== undefined && typeof req.body !== 'string' && !isObject(req.body))
    problems.error(`${path}/body`, 'the arguments of a tool are an object');
  return { kind: 'tool', ref: url, tool: ref.tool };
}

function compileStep(
  raw: Record<string, unknown>,
  path: string,
  stepIds: Set<string>,
  problems: Problems,
  refs: RefUse[],
): StepIR {
  const req = (raw.request ?? {}) as Record<string, unknown>;
  const method = String(req.method ?? '').toUpperCase();
  if (!methods.has(method)) problems.error(`${path}/request/method`, `must be one of ${[...methods].join(', ')}`);
  const url = typeof req.url === 'string' ? req.url : '';
  if (url === '') problems.error(`${path}/request/url`, 'is required');
  const tool = url.startsWith('toolplane:') ? toolTarget(req, method, url, `${path}/request`, problems) : undefined;
  if (!tool) checkValue(url, `${path}/request/url`, 'flower', problems, refs);
  const parameters: ParameterIR[] = [];
  for (const [where, loc] of [
    ['query', 'query'],
    ['headers', 'header'],
  ] as const) {
    const map = req[where];
    if (!isObject(map)) continue;
    for (const [name, value] of Object.entries(map)) {
      checkValue(value, `${path}/request/${where}/${escapePointer(name)}`, 'flower', problems, refs);
      parameters.push({ name, in: loc, value });
    }
  }
  const outputs = isObject(raw.outputs) ? raw.outputs : {};
  for (const [name, value] of Object.entries(outputs))
    checkValue(value, `${path}/outputs/${escapePointer(name)}`, 'flower', problems, refs);
  const actions = compileActions(raw.actions, `${path}/actions`, stepIds, problems, refs);
  const step: StepIR = {
    id: String(raw.id),
    target: tool ?? { kind: 'http', method, url },
    parameters,
    successCriteria: [implicitSuccess],
    onSuccess: actions,
    onFailure: actions,
    outputs: Object.entries(outputs),
  };
  checkOutputOrder(step.outputs, `${path}/outputs`, 'flower', problems);
  if (typeof raw.description === 'string') step.description = raw.description;
  if (req.body !== undefined) {
    checkValue(req.body, `${path}/request/body`, 'flower', problems, refs);
    step.body = { payload: storedPayload(req.body), replacements: [] };
  }
  return step;
}

export function compileFlower(doc: unknown): CompileResult {
  const schemaIssues = validateFlowerSchema(doc);
  if (schemaIssues.length > 0) throw new ValidationError('the Flower document is not valid', schemaIssues);
  const d = doc as Record<string, unknown>;
  const problems = new Problems();
  const workflows: WorkflowIR[] = [];
  const flowIds = new Set<string>();
  (d.flows as Record<string, unknown>[]).forEach((flow, fi) => {
    const fp = `/flows/${fi}`;
    const id = String(flow.id);
    if (flowIds.has(id)) problems.error(`${fp}/id`, `another flow already has the id ${JSON.stringify(id)}`);
    flowIds.add(id);
    const rawSteps = Array.isArray(flow.steps) ? (flow.steps as Record<string, unknown>[]) : [];
    const stepIds = new Set<string>();
    rawSteps.forEach((s, si) => {
      const sid = String(s.id);
      if (stepIds.has(sid))
        problems.error(`${fp}/steps/${si}/id`, `another step of this flow already has the id ${JSON.stringify(sid)}`);
      stepIds.add(sid);
    });
    if (rawSteps.length === 0) problems.error(`${fp}/steps`, 'a flow needs at least one step');
    const refs: RefUse[] = [];
    const steps = rawSteps.map((s, si) => compileStep(s, `${fp}/steps/${si}`, stepIds, problems, refs));
    const outputs = isObject(flow.outputs) ? flow.outputs : {};
    for (const [name, value] of Object.entries(outputs))
      checkValue(value, `${fp}/outputs/${escapePointer(name)}`, 'flower', problems, refs);
    const wf: WorkflowIR = {
      id,
      inputSchema: objectInputSchema(flow.inputs, `${fp}/inputs`, problems),
      dependsOn: [],
      steps,
      outputs: Object.entries(outputs),
      secrets: secretNames(refs),
      // A flow allows any property; its cost is the extension's, as on an Arazzo workflow.
      ...declaredCost(flow, fp, problems),
    };
    if (typeof flow.description === 'string') wf.description = flow.description;
    checkOutputOrder(wf.outputs, `${fp}/outputs`, 'flower', problems);
    for (const r of refs) {
      if (r.ref.root === 'workflows' || r.ref.root === 'sourceDescriptions' || r.ref.root === 'components') {
        problems.error(r.path, `${r.ref.text}: Flower documents have no ${r.ref.root}`);
      }
    }
    checkStepRefs(wf, refs, problems);
    workflows.push(wf);
  });
  if (problems.errors.length > 0) throw new ValidationError('the Flower document is not valid', problems.errors);
  closeSecrets(workflows);
  const ir: WorkflowDocumentIR = { v: 2, format: 'flower', id: String(d.id), workflows, sources: {}, components: {} };
  if (typeof d.title === 'string') ir.title = d.title;
  if (typeof d.description === 'string') ir.description = d.description;
  return { ir, warnings: problems.warnings };
}
