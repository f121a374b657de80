import { judgeSession, sessionDecisionText, sessionRulesFor, type SessionDecisionFacts } from '@toolplane/access';
import {
  isResultLabel,
  type CatalogTool,
  type ToolInvokeJob,
  type ToolStepPlan,
  type WorkspaceAccess,
} from '@toolplane/contracts';
import { executionRecordId, type SessionEntry } from '@toolplane/queue';
import type { RecordLabels, SessionStore } from './session-labels.ts';

/**
 * A workflow step in its caller's session (ADR 0078, docs/governance.md "Rules that see the session"): the run carries
 * the caller's session (its job's `rules.session`). A step on a hosted server's tool that sends data out (its catalog
 * labels `public_write` / `external_write`) is judged by the workspace's session rules on what the session holds, as
 * the edge judges a direct call of it, except that a step cannot wait for an approval: an enforced rule refuses it
 * (nothing sent), a log-only one is recorded (`session.would_refuse`, `session.would_hold`) and the step goes on. What
 * each step's result brings (its tool's result labels) is written to the session when it answered, before the run
 * goes on, so the next step is judged with it. Steps of connectors' operations and of external servers registered
 * alone belong to no hosted server: no catalog labels are known for them, nothing is judged or written.
 */

type ToolLabel = NonNullable<CatalogTool['labels']>[number];

/** What a step's session needs: the labels of its tool, the store, the workspace's published session rules. */
export interface StepSessionDeps {
  /** The step's tool's catalog labels (absent: none known). */
  labels?: ((serverId: string, tool: string) => Promise<readonly ToolLabel[]>) | undefined;
  sessions?: SessionStore | undefined;
  workspaceAccess?: ((workspaceId: string) => Promise<WorkspaceAccess | undefined>) | undefined;
  now?: (() => number) | undefined;
}

/** A step refused by its session (why), or what to write when it answered (undefined: nothing). */
type StepSession = { refused: string } | { brought: (() => Promise<RecordLabels>) | undefined };

const nothing: StepSession = { brought: undefined };

/** The session's judgement of a step and what its result will bring. `decided`: each decision's audit event. */
export async function stepSession(
  deps: StepSessionDeps,
  job: Pick<ToolInvokeJob, 'principal' | 'invocationId' | 'rules'>,
  step: ToolStepPlan,
  decided: ((facts: SessionDecisionFacts) => void) | undefined,
): Promise<StepSession> {
  const session = job.rules?.session;
  if (!session || step.serverId === undefined) return nothing;
  const serverId = step.serverId;
  let labels: readonly ToolLabel[];
  try {
    labels = deps.labels ? await deps.labels(serverId, step.name) : [];
  } catch {
    return { refused: `the labels of the step's tool "${step.name}" could not be read (Redis unavailable).` };
  }
  const workspaceId = job.principal.workspaceId;
  const access = await deps.workspaceAccess?.(workspaceId);
  const rules = sessionRulesFor(
    access?.session?.rules,
    labels.map((l) => l.label),
  );
  if (rules.length > 0) {
    const refused = await judgeStep(deps, { job, step, rules, decided });
    if (refused !== undefined) return { refused };
  }
  const brings: SessionEntry['labels'][number][] = [];
  for (const l of labels) if (isResultLabel(l.label)) brings.push({ label: l.label, source: l.source });
  const countCall = session.countCalls === true;
  if (brings.length === 0 && !countCall) return nothing;
  const now = deps.now ?? Date.now;
  const brought = async () => {
    if (!deps.sessions) throw new Error('no session store');
    await deps.sessions.add(workspaceId, session, {
      tool: step.name,
      serverId,
      invocationId: executionRecordId(job.invocationId),
      at: now(),
      labels: brings,
      countCall,
    });
    return brings;
  };
  return { brought };
}

interface Judged {
  job: Pick<ToolInvokeJob, 'principal' | 'invocationId' | 'rules'>;
  step: ToolStepPlan;
  rules: ReturnType<typeof sessionRulesFor>;
  decided: ((facts: SessionDecisionFacts) => void) | undefined;
}

/** The session rules on an outbound step: why an enforced one refuses it, or undefined (log-only ones recorded). */
async function judgeStep(deps: StepSessionDeps, { job, step, rules, decided }: Judged): Promise<string | undefined> {
  const scopes = job.rules!.session!.scopes;
  // Rules someone approved this run under (the edge held the workflow for them): they let its steps through.
  const approved = job.rules!.session!.approved;
  if (approved?.length) rules = rules.filter((r) => !approved.includes(r.id));
  if (rules.length === 0) return undefined;
  let held;
  try {
    if (!deps.sessions) throw new Error('no session store');
    held = (await deps.sessions.read(job.principal.workspaceId, scopes)).labels;
  } catch {
    return `the caller's session could not be read to decide the step's tool "${step.name}" (Redis unavailable).`;
  }
  const judged = judgeSession(rules, held);
  const invocationId = job.invocationId;
  for (const { rule, origin } of judged.shadow)
    decided?.({ decision: rule.action === 'refuse' ? 'would_refuse' : 'would_hold', rule, origin, invocationId });
  const m = judged.enforced;
  if (!m) return undefined;
  decided?.({ decision: 'refused', rule: m.rule, origin: m.origin, invocationId });
  const text = sessionDecisionText(step.name, m);
  // A workflow step cannot wait for someone's approval: refused, saying how to ask for it.
  return m.rule.action === 'refuse'
    ? text
    : `${text} A workflow step cannot wait for an approval: call the tool directly to ask for it.`;
}
