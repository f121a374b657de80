import {
  accessWouldRefuseEvent,
  auditActor,
  CallerFacets,
  judgePortable,
  ruleCallerOf,
  ruleDecisionEvent,
  refusalOf,
  settingsFor,
  type PortableRule,
  guardrailFindingEvents,
  quotaAlertEvent,
  quotaEvent,
  rulePlan,
  sessionDecisionEvent,
  type CallEventBase,
  type SessionDecisionFacts,
} from '@toolplane/access';
import {
  CatalogTool,
  GuardrailRule,
  type AuditEventInput,
  type GuardrailFinding,
  redisKeys,
  type QuotaCaller,
  type StepCaller,
  type ToolInvokeJob,
  type ToolStepPlan,
  type WorkspaceAccess,
} from '@toolplane/contracts';
import { applyGuardrails, compileGuardrails, guardrailsFor, type CompiledGuardrail } from '@toolplane/guardrails';
import type { Logger } from '@toolplane/logger';
import {
  callerQuotas,
  quotaRefusalMessage,
  quotasOfTool,
  type ChargeOutcome,
  type DelegationBudget,
  type QuotaCharge,
  type QuotaMeter,
} from '@toolplane/queue';
import { currentTraceIds } from '@toolplane/telemetry';
import type { RedisClient } from '@toolplane/redis';
import { z } from 'zod';
import { stepAccess, type WorkspaceAccessReader } from './step-access.ts';
import type { RecordLabels, SessionStore } from './session-labels.ts';
import { stepDelegation } from './step-delegation.ts';
import { stepSession, type StepSessionDeps } from './step-session.ts';

/**
 * A workflow step on a hosted server's tool asks the rules a direct call of that tool asks at the edge (ADR 0045,
 * 0048, 0050, 0078, 0084), each a function of its own, in the order of the one list of rules (`rules` in
 * @toolplane/access, ADR 0097), as the edge's pipeline runs them: a narrowed token's rights (its tools, conditions on
 * the arguments as sent, its calls: given back when a later check refuses), the tool's guardrails on arguments (a block
 * refuses the step, a redaction sends the arguments redacted), the caller's access to the tool (grants, conditions on
 * the arguments as they will be sent), the session rules for a run that carries its caller's session (step-session.ts),
 * then the tool's quotas, charged in the same Redis counters as a direct call (`QuotaMeter`). A refused step sends
 * nothing and costs nothing; the workflow fails with the reason. Steps of connectors' operations and of external servers
 * registered alone belong to no hosted server: none of these apply.
 */

/** What the step checks read: the published policies and quotas, the meter, the step's server's guardrails. */
export interface StepCheckDeps {
  workspaceAccess?: WorkspaceAccessReader | undefined;
  /** Charges a step's quotas (absent: a step under a quota is refused, as the edge refuses what it cannot count). */
  quotaMeter?: QuotaMeter | undefined;
  /** The guardrails on arguments of a hosted server's live catalog (absent: a guarded step cannot be checked). */
  argumentGuardrails?: ArgumentGuardrailsReader | undefined;
  /** Where the steps' audit events go (absent: none are written). */
  audit?: { add(event: AuditEventInput): void } | undefined;
  /** Sessions' labels (ADR 0078), for a run that carries its caller's session. */
  sessions?: SessionStore | undefined;
  /** A narrowed token's call counters (ADR 0084), for a workflow called with one (absent: a limited token's step is refused). */
  delegationCalls?: DelegationBudget | undefined;
  /** Why the workflow's caller no longer stands for a step on a server (`workflowCallerCheck`); absent: not judged again. */
  standing?:
    | ((job: Pick<ToolInvokeJob, 'principal' | 'callerStanding'>, serverId: string) => Promise<string | undefined>)
    | undefined;
  now?: (() => number) | undefined;
  log: Logger;
}

/**
 * A step refused (why; nothing sent), or the arguments to send, what to do when the step ends, and what to write when
 * its tool answered (`brought`: its result's labels into the caller's session, before the run goes on; rejects when
 * the session cannot be written).
 */
export type StepChecked =
  | { refused: string }
  | { args: Record<string, unknown>; done: () => Promise<void>; brought?: () => Promise<RecordLabels> };

const nothingToRelease = () => Promise.resolve();

type StepJob = Pick<ToolInvokeJob, 'principal' | 'stepCaller' | 'invocationId' | 'rules' | 'callerStanding'>;

/** One step as its checks see it: each may refuse it, send other arguments, or keep something for its end. */
interface StepRun {
  readonly deps: StepCheckDeps;
  readonly job: StepJob;
  readonly step: ToolStepPlan;
  /** The workspace's published policies and quotas, read once for every check that needs them. */
  readonly workspaceAccess: WorkspaceAccessReader | undefined;
  readonly audit: StepAudit | undefined;
  /** The arguments as the later checks see them (the guardrails may redact them). */
  args: Record<string, unknown>;
  /** Gives back what an earlier check charged when a later one refuses (a narrowed token's call). */
  refund?: () => Promise<void>;
  brought?: () => Promise<RecordLabels>;
  /** Releases the step's calls in flight when it ends. */
  done?: () => Promise<void>;
  /** The workflow caller's facets the portable rules derived, each once. */
  facets?: CallerFacets;
}

/** A rule's check of a step: why it refuses it, or undefined (it goes on). */
interface StepCheck {
  readonly name: string;
  run(r: StepRun): Promise<string | undefined>;
}

/**
 * Every check of one step, in order; the first refusal stops it (a narrowed token's charge is given back). What a
 * log-only rule would have done (a guardrail's findings, a policy's or a quota's would-be refusal), a quota's refusal
 * and alerts are audit events, built as the edge builds them for a plain call of the tool (`@toolplane/access`
 * call-events), the workflow's invocation named.
 */
export async function checkStep(
  deps: StepCheckDeps,
  job: StepJob,
  step: ToolStepPlan,
  sent: Record<string, unknown>,
): Promise<StepChecked> {
  if (step.serverId === undefined) return { args: sent, done: nothingToRelease };
  // Judged when it acts (ADR 0090): a key deleted or a token revoked since the workflow started refuses the step.
  const gone = await deps.standing?.(job, step.serverId);
  if (gone !== undefined) return { refused: `the step was not run: ${gone}` };
  // The step's audit facts, read only if an event is written (most steps write none).
  let events: CallEventBase | undefined;
  const audit: StepAudit | undefined = deps.audit && {
    sink: deps.audit,
    get events() {
      return (events ??= stepEvents(job, step));
    },
    invocationId: job.invocationId,
  };
  let read: ReturnType<WorkspaceAccessReader> | undefined;
  const workspaceAccess = deps.workspaceAccess && ((id: string) => (read ??= deps.workspaceAccess!(id)));
  const r: StepRun = { deps, job, step, workspaceAccess, audit, args: sent };
  for (const check of stepChecks) {
    const refused = await check.run(r);
    if (refused === undefined) continue;
    await r.refund?.();
    return { refused };
  }
  const { args, brought } = r;
  return { args, done: r.done ?? nothingToRelease, ...(brought ? { brought } : {}) };
}

const delegationCheck: StepCheck = {
  name: 'delegation',
  async run(r) {
    // A narrowed token's rights (ADR 0084): its tools, conditions and calls, as a direct call with it would meet them.
    const narrowed = await stepDelegation(r.deps.delegationCalls, r.job, r.step, r.args);
    if ('refused' in narrowed) return narrowed.refused;
    r.refund = narrowed.refund;
    return undefined;
  },
};

const argumentGuardrailsCheck: StepCheck = {
  name: 'argument-guardrails',
  async run(r) {
    const guarded = await stepGuardrails(r.deps, r.step, r.args);
    if ('refused' in guarded) return guarded.refused;
    r.args = guarded.args;
    if (r.audit && guarded.found)
      for (const event of guardrailFindingEvents(r.audit.events, guarded.found, r.audit.invocationId))
        r.audit.sink.add(event);
    return undefined;
  },
};

const accessCheck: StepCheck = {
  name: 'access',
  async run(r) {
    const decided = await stepAccess(r.workspaceAccess, r.job, r.step, r.args);
    if ('refused' in decided) return decided.refused;
    const { audit } = r;
    if (audit)
      for (const w of decided.shadow) audit.sink.add(accessWouldRefuseEvent(audit.events, w, audit.invocationId));
    return undefined;
  },
};

const sessionCheck: StepCheck = {
  name: 'session',
  async run(r) {
    // The caller's session (ADR 0078): a step sending data out after what the session holds; what its result brings.
    if (!r.job.rules?.session) return undefined;
    const deps = { ...sessionDeps(r.deps), workspaceAccess: r.workspaceAccess };
    const session = await stepSession(deps, r.job, r.step, r.audit && sessionEvents(r.audit));
    if ('refused' in session) return session.refused;
    if (session.brought) r.brought = session.brought;
    return undefined;
  },
};

const quotaCheck: StepCheck = {
  name: 'quota',
  async run(r) {
    const { deps, job } = r;
    const charged = await chargeStepQuotas({ ...deps, workspaceAccess: r.workspaceAccess }, job, r.step);
    if (r.audit && charged.outcome) recordQuotas(r.audit, charged.outcome);
    if ('refused' in charged) return charged.refused;
    const { charge } = charged;
    if (!charge || charge.inFlight.length === 0) return undefined;
    // Calls in flight end with the step (its windowed units stay charged, as a direct call's).
    r.done = () =>
      deps
        .quotaMeter!.release(charge, { windowed: false, inFlight: true })
        .catch((err: unknown) =>
          deps.log.warn(
            { invocationId: job.invocationId, err: String(err) },
            'a step’s call in flight was not released',
          ),
        );
    return undefined;
  },
};

/**
 * A portable rule (ADR 0101) on a step: the settings its server's live catalog publishes, the workflow caller's facet,
 * the arguments as the earlier checks left them; judged as the edge's `portableStage` judges a direct call (the same
 * audit events, the refusal's message the workflow's reason).
 */
function portableCheck(rule: PortableRule): StepCheck {
  return {
    name: rule.name,
    async run(r) {
      const { step, job } = r;
      const all = r.deps.argumentGuardrails?.ruleSettings
        ? await r.deps.argumentGuardrails.ruleSettings(step.serverId!).catch(() => 'unreadable' as const)
        : undefined;
      const settings = all === 'unreadable' ? 'invalid' : settingsFor(rule, all);
      if (settings === undefined) return undefined;
      const tool = { name: step.name, inputSchema: step.inputSchema ?? {} };
      if (settings !== 'invalid' && !rule.appliesTo(tool, settings.settings)) return undefined;
      const facets = (r.facets ??= new CallerFacets(ruleCallerOf(job.principal, await stepGrants(r))));
      const decision = judgePortable(rule, settings, { args: r.args, tool, facets });
      if (decision === undefined) return undefined;
      // A step cannot wait for a person: a hold refuses it, with the same words.
      const { refusal, stops } = refusalOf(decision);
      const { code, message, violated } = refusal;
      const kind = stops ? ('refused' as const) : ('would_refuse' as const);
      const event = { rule: rule.name, code, kind, invocationId: job.invocationId, ...(violated ? { violated } : {}) };
      if (r.audit) r.audit.sink.add(ruleDecisionEvent(r.audit.events, event));
      return stops ? message : undefined;
    },
  };
}

/** The workspace's task grants, read only for a caller whose token was redeemed from one (ADR 0108). */
async function stepGrants(r: StepRun) {
  if (r.job.principal.delegation?.grantId === undefined || !r.workspaceAccess) return undefined;
  return (await r.workspaceAccess(r.job.principal.workspaceId).catch(() => undefined))?.taskGrants ?? [];
}

/** The checks of a step, in the list's order (built once, as this module loads); portable rules by `portableCheck`. */
const stepChecks = rulePlan<StepCheck>(
  'workflowStep',
  {
    delegation: delegationCheck,
    'argument-guardrails': argumentGuardrailsCheck,
    access: accessCheck,
    session: sessionCheck,
    quota: quotaCheck,
  },
  portableCheck,
);

/** The names of the rules a step meets, in order (compared with the list by a unit test). */
export const stepRuleNames: readonly string[] = stepChecks.map((check) => check.name);

/** What a step's session reads of the step checks' deps: its tool's labels (the live catalog), the store, the clock. */
const sessionDeps = (deps: StepCheckDeps): StepSessionDeps => ({
  labels: deps.argumentGuardrails?.labels?.bind(deps.argumentGuardrails),
  sessions: deps.sessions,
  now: deps.now,
});

/** A step's session decisions as audit events, as the edge writes them for a direct call of the tool. */
const sessionEvents = (audit: StepAudit) => (facts: SessionDecisionFacts) =>
  audit.sink.add(sessionDecisionEvent(audit.events, facts));

/** Where a step's audit events go, what they say of its call, and the workflow's invocation. */
interface StepAudit {
  sink: { add(event: AuditEventInput): void };
  events: CallEventBase;
  invocationId: string;
}

/** The audit facts of a step's call: its tool on its hosted server, the workflow's caller, the workflow's invocation. */
function stepEvents(job: Pick<ToolInvokeJob, 'principal' | 'invocationId'>, step: ToolStepPlan): CallEventBase {
  return {
    workspaceId: job.principal.workspaceId,
    serverId: step.serverId!,
    serverName: step.serverName ?? step.serverId!,
    tool: step.name,
    actor: auditActor(job.principal),
    source: {
      requestId: job.invocationId,
      traceId: currentTraceIds()?.traceId ?? null,
      clientAddress: null,
      userAgent: null,
    },
    parentInvocationId: job.invocationId,
  };
}

/** A step's quota charge as the edge records a call's: log-only quotas' would-be refusals, a refusal, alerts. */
function recordQuotas(audit: StepAudit, outcome: ChargeOutcome) {
  const { sink, invocationId } = audit;
  for (const w of outcome.shadow) sink.add(quotaEvent(audit.events, w, { kind: 'would_refuse', invocationId }));
  if (outcome.refused) sink.add(quotaEvent(audit.events, outcome.refused, { kind: 'refused' }));
  else for (const a of outcome.alerts) sink.add(quotaAlertEvent(audit.events, a, undefined));
}

/** The step's tool's guardrails on arguments (its server's live catalog): refused by a block, or the arguments to send. */
async function stepGuardrails(
  deps: Pick<StepCheckDeps, 'argumentGuardrails' | 'log'>,
  step: ToolStepPlan,
  args: Record<string, unknown>,
): Promise<
  | { refused: string }
  | {
      args: Record<string, unknown>;
      found?: { guardrails: readonly CompiledGuardrail[]; findings: GuardrailFinding[] };
    }
> {
  if (step.serverId === undefined) return { args };
  const all = deps.argumentGuardrails ? await deps.argumentGuardrails.of(step.serverId).catch(() => undefined) : [];
  if (all === undefined)
    return { refused: `the guardrails of the step's tool "${step.name}" could not be read (Redis unavailable).` };
  const guardrails = guardrailsFor(all, step.name);
  if (guardrails.length === 0) return { args };
  const out = applyGuardrails(args, guardrails, { maxScanBytes: Number.POSITIVE_INFINITY });
  if (out.findings.length === 0) return { args };
  deps.log.info({ tool: step.name, findings: out.findings }, 'guardrail findings in a workflow step’s arguments');
  if (out.withheld) {
    const { guardrail, detector, path } = out.withheld;
    return {
      refused: `guardrail "${guardrail}" withheld the call of the step's tool "${step.name}": ${detector} found at ${path} in its arguments.`,
    };
  }
  const findings = out.findings.map((f) => ({ ...f, on: 'arguments' as const }));
  return { args: out.value as Record<string, unknown>, found: { guardrails, findings } };
}

/** The quota caller of a job's step caller: who the edge charged a direct call for (`quotasOf` there). */
function quotaCaller(c: StepCaller): QuotaCaller {
  const { key_id, user, subject, claims } = c.condition;
  return { keyId: key_id, person: user, subject, claims };
}

/**
 * The step's tool's quotas, charged as a direct call of it is (same rules, counters and keys): refused when an
 * enforced one has no room (nothing charged), or charged (undefined: none applies). Fails closed: a quota that cannot
 * be read or charged refuses the step.
 */
async function chargeStepQuotas(
  deps: Pick<StepCheckDeps, 'workspaceAccess' | 'quotaMeter' | 'log'>,
  job: Pick<ToolInvokeJob, 'principal' | 'stepCaller'>,
  step: ToolStepPlan,
): Promise<({ refused: string } | { charge: QuotaCharge | undefined }) & { outcome?: ChargeOutcome }> {
  if (step.serverId === undefined || !job.stepCaller) return { charge: undefined };
  const access: WorkspaceAccess | undefined = await deps.workspaceAccess?.(job.principal.workspaceId);
  // The same quotas as a direct call of the tool by this caller (the edge's `callerQuotas`, then `quotasOfTool`).
  const quotas = access && callerQuotas(access, quotaCaller(job.stepCaller), step.serverId);
  const rules = quotas ? quotasOfTool(quotas, step.name) : [];
  if (rules.length === 0) return { charge: undefined };
  const unavailable = `the quotas of the step's tool "${step.name}" could not be checked (Redis unavailable).`;
  if (!deps.quotaMeter) return { refused: unavailable };
  try {
    const outcome = await deps.quotaMeter.charge(quotas!, rules, step.cost ?? 1);
    if (!outcome.refused) return { charge: outcome.charge, outcome };
    return { refused: quotaRefusalMessage(step.name, outcome.refused, 'step'), outcome };
  } catch (err) {
    deps.log.warn({ tool: step.name, err: String(err) }, 'a step’s quotas could not be checked');
    return { refused: unavailable };
  }
}

/**
 * Reads what the step checks need of a hosted server's live catalog: its guardrails on arguments, and a tool's
 * data-flow labels (ADR 0078; read only for a call that keeps a session), both kept once per catalog version.
 */
export interface ArgumentGuardrailsReader {
  of(serverId: string): Promise<readonly CompiledGuardrail[]>;
  /** The tool's catalog `labels` (none: an unknown tool, or no label). */
  labels?(serverId: string, tool: string): Promise<readonly ToolLabel[]>;
  /** The server's settings of portable rules (ADR 0101), as its live catalog publishes them (absent: none). */
  ruleSettings?(serverId: string): Promise<Record<string, unknown> | undefined>;
}

type ToolLabel = NonNullable<CatalogTool['labels']>[number];

/** What of a live catalog this reads: its version, guardrails, its tools' names and labels (nothing else parsed). */
const CatalogVersion = z.object({ version: z.number() });
const CatalogChecks = z.object({
  guardrails: z.array(GuardrailRule).optional(),
  tools: z.array(z.object({ tool: z.object({ name: z.string() }), labels: CatalogTool.shape.labels })).optional(),
  ruleSettings: z.record(z.string(), z.unknown()).optional(),
});

interface CatalogChecked {
  version: number;
  guardrails: readonly CompiledGuardrail[];
  labels: ReadonlyMap<string, readonly ToolLabel[]>;
  ruleSettings: Record<string, unknown> | undefined;
}

export function argumentGuardrailsReader(redis: RedisClient, prefix: string): ArgumentGuardrailsReader {
  const keys = redisKeys(prefix);
  const compiled = new Map<string, CatalogChecked>();
  const read = async (serverId: string): Promise<CatalogChecked | undefined> => {
    const raw = await redis.get(keys.catalog(serverId));
    if (!raw) return undefined;
    const catalog = JSON.parse(raw) as unknown;
    const { version } = CatalogVersion.parse(catalog);
    const hit = compiled.get(serverId);
    if (hit?.version === version) return hit;
    const checks = CatalogChecks.parse(catalog);
    const labels = new Map<string, readonly ToolLabel[]>();
    for (const t of checks.tools ?? []) if (t.labels?.length) labels.set(t.tool.name, t.labels);
    const guardrails = compileGuardrails(checks.guardrails ?? [], 'arguments');
    const made = { version, guardrails, labels, ruleSettings: checks.ruleSettings };
    if (compiled.size > 1000) compiled.clear();
    compiled.set(serverId, made);
    return made;
  };
  return {
    of: async (serverId) => (await read(serverId))?.guardrails ?? [],
    labels: async (serverId, tool) => (await read(serverId))?.labels.get(tool) ?? [],
    ruleSettings: async (serverId) => (await read(serverId))?.ruleSettings,
  };
}
