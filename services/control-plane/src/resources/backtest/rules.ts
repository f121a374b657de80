import { portableRules, ruleSettingsProblems } from '@toolplane/access';
import type {
  AccessPolicyRule,
  GuardrailRule,
  PolicyPrincipal,
  QuotaRule,
  SessionSettings,
  WorkspaceAccess,
} from '@toolplane/contracts';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';
import { guardrailRuleOf } from '../../catalog/guardrails.ts';
import type { Db } from '../../db/client.ts';
import { policyApproval } from '../access-policies/approval.ts';
import { workspaceAccess } from '../access-policies/publish.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { SessionRuleBody } from '../sessions/schemas.ts';
import { publishedRule } from '../sessions/settings.ts';
import { approvalRuleBody } from '../servers/approval-rule-files.ts';
import type { DesiredResource } from '../workspace-files/kind.ts';
import { readFiles, type WorkspaceFile } from '../workspace-files/read-files.ts';

/**
 * The rules a backtest judges recorded calls by (ADR 0080): the workspace's as published (its access document:
 * policies, quotas, session settings; its guardrails), and the same with a proposed change laid over them. The change
 * is written as workspace files (`access-policies/`, `quotas/`, `guardrails/`, `session.yaml`, `mcp-servers/`: their
 * `confirmTools`, `approvalTools` and `ruleSettings` only), read and checked by the workspace files' own readers; a
 * file replaces the rule of its name, or adds one (`session.yaml` replaces the session settings whole, as apply does;
 * a server file without `ruleSettings` keeps the server's, as apply does).
 */

/** A guardrail with the server it belongs to (null: every server of the workspace). */
interface ServerGuardrail {
  readonly serverId: string | null;
  readonly rule: GuardrailRule;
}

export interface Rules {
  readonly access: WorkspaceAccess;
  readonly guardrails: readonly ServerGuardrail[];
  /** Per server id: the tools a person confirms before each call (the server's `confirmTools`). */
  readonly confirmTools: ReadonlyMap<string, ReadonlySet<string>>;
  /** Per server id: the tools someone else approves before each call (the server's `approvalTools`). */
  readonly approvalTools: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * Per server id: its settings of portable rules (`ruleSettings`, ADR 0101), as published, or as a proposed server
   * file sets them (each rule's settings checked by its own schema).
   */
  readonly ruleSettings?: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

/** The kinds of files a proposed change may hold. */
const BACKTEST_KINDS = ['access_policy', 'quota', 'guardrail', 'session', 'server'] as const;

/** The workspace's rules as the edges apply them now. */
export async function currentRules(db: Db, workspaceId: string): Promise<Rules> {
  const [access, rows, servers] = await Promise.all([
    workspaceAccess(db, workspaceId),
    db.guardrail.findMany({ where: { workspaceId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] }),
    db.mcpServer.findMany({
      where: { workspaceId },
      select: { id: true, confirmTools: true, approvalTools: true, ruleSettings: true },
    }),
  ]);
  return {
    access,
    guardrails: rows.map((r) => ({ serverId: r.serverId, rule: guardrailRuleOf(r) })),
    confirmTools: new Map(servers.map((s) => [s.id, new Set(s.confirmTools)])),
    approvalTools: new Map(servers.map((s) => [s.id, new Set(s.approvalTools)])),
    ruleSettings: new Map(
      servers.flatMap((s) => (s.ruleSettings ? [[s.id, s.ruleSettings as Record<string, unknown>] as const] : [])),
    ),
  };
}

/** Names → ids of the workspace's servers and API keys, as the files name them. */
interface Names {
  servers: Map<string, string>;
  keys: Map<string, string>;
}

async function namesOf(db: Db, workspaceId: string): Promise<Names> {
  const [servers, keys] = await Promise.all([
    db.mcpServer.findMany({ where: { workspaceId }, select: { id: true, name: true } }),
    db.apiKey.findMany({ where: { workspaceId }, select: { id: true, name: true } }),
  ]);
  return { servers: new Map(servers.map((s) => [s.name, s.id])), keys: new Map(keys.map((k) => [k.name, k.id])) };
}

/** Resolves names, collecting a problem per unknown one (at its file and JSON pointer). */
function resolver(names: Names, problems: ProblemIssue[]) {
  return (kind: 'servers' | 'keys', name: string, at: string): string => {
    if (name === '*' && kind === 'servers') return name;
    const id = names[kind].get(name);
    if (id === undefined)
      problems.push({ path: at, message: `no ${kind === 'servers' ? 'MCP server' : 'API key'} named "${name}"` });
    return id ?? name;
  };
}

type Resolve = ReturnType<typeof resolver>;

function policyOf(d: DesiredResource, id: string, resolve: Resolve): AccessPolicyRule {
  const s = d.spec as Record<string, unknown>;
  const principals = (s.principals as PolicyPrincipal[]).map((p, i) =>
    p.type === 'api_key' ? { ...p, value: resolve('keys', p.value, `${d.file}#/principals/${i}/value`) } : p,
  );
  const condition = (s.condition as string | null) ?? null;
  const approval = policyApproval({
    id,
    condition,
    onFalse: s.onFalse as string,
    approval: approvalRuleBody(s.approval, (k) => resolve('keys', k, `${d.file}#/approval`)),
  });
  return {
    id,
    name: d.name,
    principals,
    servers: (s.servers as string[]).map((n, i) => resolve('servers', n, `${d.file}#/servers/${i}`)),
    tools: s.tools as string[],
    ...(condition !== null ? { condition } : {}),
    ...(approval ? { approval } : {}),
    ...(s.enforce === false ? { enforce: false } : {}),
  };
}

function quotaOf(d: DesiredResource, id: string, resolve: Resolve): QuotaRule {
  const s = d.spec as Record<string, unknown>;
  const match = { ...(s.match as QuotaRule['match']) };
  if (match.servers)
    match.servers = match.servers.map((n, i) => resolve('servers', n, `${d.file}#/match/servers/${i}`));
  if (match.apiKeys) match.apiKeys = match.apiKeys.map((n, i) => resolve('keys', n, `${d.file}#/match/apiKeys/${i}`));
  return {
    id,
    name: d.name,
    match,
    counts: s.counts as QuotaRule['counts'],
    limit: s.limit as number,
    ...(s.window ? { window: s.window as NonNullable<QuotaRule['window']> } : {}),
    ...(s.timeZone ? { timeZone: s.timeZone as string } : {}),
    ...(s.per ? { per: s.per as NonNullable<QuotaRule['per']> } : {}),
    enforce: s.enforce !== false,
  };
}

function guardrailOf(d: DesiredResource, id: string, resolve: Resolve): ServerGuardrail {
  const s = d.spec as Record<string, unknown>;
  const serverId = s.server === null ? null : resolve('servers', String(s.server), `${d.file}#/server`);
  const rule = guardrailRuleOf({
    id,
    name: d.name,
    tools: (s.tools as string[] | undefined) ?? [],
    detectors: s.detectors,
    action: s.action as string,
    enforce: s.enforce !== false,
    maxBytes: (s.maxBytes as number | null | undefined) ?? null,
    on: (s.on as string[] | undefined) ?? ['results'],
  });
  return { serverId, rule };
}

/** `session.yaml` as edges would read it: each rule as published (its approval's keys resolved by name). */
function sessionOf(d: DesiredResource, resolve: Resolve): SessionSettings {
  const s = d.spec as { ttlSeconds: number; rules: (SessionRuleBody & { approval?: unknown })[] };
  const rules = s.rules.map((r, i) => {
    const { approval, ...rule } = r;
    const keyOf = (k: string) => resolve('keys', k, `${d.file}#/rules/${i}/approval`);
    return publishedRule({ ...rule, ...(approval ? { approval: approvalRuleBody(approval, keyOf)! } : {}) });
  });
  return { ttlSeconds: s.ttlSeconds, rules };
}

/** `list` with `item` in place of the one of the same name, or added at the end (the newest rule). */
function replaced<T>(list: readonly T[], item: T, name: (t: T) => string | undefined): T[] {
  const at = list.findIndex((t) => name(t) === name(item));
  return at < 0 ? [...list, item] : list.map((t, i) => (i === at ? item : t));
}

/** A proposed rule's id: the id of the rule it replaces (same name), else one of its own. */
const idFor = (existing: { id: string; name?: string | undefined }[], name: string) =>
  existing.find((r) => r.name === name)?.id ?? `proposed:${name}`;

/** The current rules with the proposed files laid over them; 422 with every problem of the files. */
export async function proposedRules(
  deps: Pick<ControlPlaneDeps, 'db' | 'fetchDocument' | 'log'>,
  workspaceId: string,
  current: Rules,
  files: WorkspaceFile[],
): Promise<Rules> {
  const desired = await readFiles(files, deps);
  const problems = [...desired.problems];
  for (const r of desired.resources)
    if (!(BACKTEST_KINDS as readonly string[]).includes(r.kind))
      problems.push({ path: `${r.file}#`, message: `a backtest replays ${BACKTEST_KINDS.join(', ')} files only` });
  const resolve = resolver(await namesOf(deps.db, workspaceId), problems);
  let policies = current.access.policies;
  let quotas = current.access.quotas ?? [];
  let guardrails = [...current.guardrails];
  let session = current.access.session;
  const confirmTools = new Map(current.confirmTools);
  const approvalTools = new Map(current.approvalTools);
  const ruleSettings = new Map(current.ruleSettings);
  const serverIds = (await namesOf(deps.db, workspaceId)).servers;
  for (const d of desired.resources) {
    if (d.kind === 'access_policy')
      policies = replaced(policies, policyOf(d, idFor(policies, d.name), resolve), (p) => p.name);
    else if (d.kind === 'quota') quotas = replaced(quotas, quotaOf(d, idFor(quotas, d.name), resolve), (q) => q.name);
    else if (d.kind === 'guardrail') {
      const id = idFor(
        guardrails.map((g) => g.rule),
        d.name,
      );
      guardrails = replaced(guardrails, guardrailOf(d, id, resolve), (g) => g.rule.name);
    } else if (d.kind === 'session') session = sessionOf(d, resolve);
    // A server's confirmations and approvals (a server the workspace does not have yet has no recorded calls).
    else if (d.kind === 'server' && serverIds.has(d.name)) {
      const id = serverIds.get(d.name)!;
      confirmTools.set(id, new Set(d.spec.confirmTools as string[]));
      approvalTools.set(id, new Set((d.spec.approvalTools as string[] | undefined) ?? []));
      const settings = d.spec.ruleSettings as Record<string, unknown> | undefined;
      if (settings) {
        for (const p of ruleSettingsProblems(portableRules, settings))
          problems.push({ path: `${d.file}#${p.path}`, message: p.message });
        ruleSettings.set(id, settings);
      }
    }
  }
  if (problems.length > 0)
    throw new ValidationError('the proposed files are invalid', problems, 'request.invalid', 422);
  const access = {
    ...current.access,
    policies,
    ...(quotas.length > 0 ? { quotas } : {}),
    ...(session ? { session } : {}),
  };
  return { access, guardrails, confirmTools, approvalTools, ruleSettings };
}
