import { portableRules, ruleSettingsLoosened } from '@toolplane/access';
import { canonical } from '../governing.ts';

/**
 * What loosens a rule (docs/governance.md "Four eyes on loosening", ADR 0079): for each kind of resource, the fields a
 * change request sets to something looser than the stored value. Pure: the stored value as its `GET` answers it, the
 * request's body (absent: a `DELETE`). Tightening, and a field sent unchanged, names nothing.
 */
export type LooseningKind =
  | 'server'
  | 'access_policy'
  | 'api_key'
  | 'quota'
  | 'guardrail'
  | 'session_settings'
  | 'change_approvals'
  | 'external_server'
  | 'connector'
  | 'enterprise_idp'
  | 'role_mapping'
  | 'external_user'
  | 'scim_token';

type Json = Record<string, unknown>;

/**
 * A requested change: `body` undefined is a deletion; `created`: a creation (`POST`, a workspace file adding a
 * resource), judged by what the new resource grants (`stored` then holds only the context four-eyes.ts reads).
 */
export interface RequestedChange {
  stored: Json;
  body: Json | undefined;
  created?: boolean;
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const keys = (v: unknown): Set<string> => new Set(list(v).map((x) => canonical(x)));

/** Whether `next` holds something `prev` did not (`"*"` counts as more than any list without it). */
function widened(prev: unknown, next: unknown): boolean {
  const before = keys(prev);
  return [...keys(next)].some((x) => !before.has(x));
}

/** Whether `prev` held something `next` does not. */
const narrowed = (prev: unknown, next: unknown) => widened(next, prev);

/** The field is in the body and differs from the stored value. */
const sets = (c: RequestedChange, field: string) =>
  c.body !== undefined && c.body[field] !== undefined && canonical(c.body[field]) !== canonical(c.stored[field]);

const enforced = (v: unknown) => v !== false;

type Approval = { approvers?: Json; approvals?: number; expiresInSeconds?: number } | null | undefined;

/**
 * An approval rule loosens when it is removed, fewer approvals are needed, requests live longer, or its approvers
 * change at all (one removed leaves fewer eyes; one added may be the requester's accomplice).
 */
function approvalLoosened(prev: Approval, next: Approval): boolean {
  if (!prev) return false;
  if (!next) return true;
  return (
    (next.approvals ?? 1) < (prev.approvals ?? 1) ||
    (next.expiresInSeconds ?? 0) > (prev.expiresInSeconds ?? 0) ||
    canonical(next.approvers ?? {}) !== canonical(prev.approvers ?? {})
  );
}

function serverLoosened(c: RequestedChange): string[] {
  const { stored: s, body: b } = c;
  if (!b) return [];
  // A new server exposes its tools to whom policies grant them; made public, to anyone.
  if (c.created) return b.isPublic === true ? ['isPublic'] : [];
  const out: string[] = [];
  if (b.isPublic === true && s.isPublic !== true) out.push('isPublic');
  if (b.codeMode !== undefined && b.codeMode !== false && !s.codeMode) out.push('codeMode');
  if (b.confirmTools !== undefined && narrowed(s.confirmTools, b.confirmTools)) out.push('confirmTools');
  if (b.approvalTools !== undefined && narrowed(s.approvalTools, b.approvalTools)) out.push('approvalTools');
  if (b.approvalRule !== undefined && approvalLoosened(s.approvalRule as Approval, b.approvalRule as Approval))
    out.push('approvalRule');
  // Each portable rule judges its own settings (ADR 0101): a limit raised or removed, log-only instead of enforced.
  if (b.ruleSettings !== undefined) out.push(...ruleSettingsLoosened(portableRules, s.ruleSettings, b.ruleSettings));
  // Result shapes, the cache, forwarding the caller's token, the labels results bring: any change may loosen.
  if (sets(c, 'config')) out.push('config');
  return out;
}

type Principal = { type?: string; value?: string };

/**
 * Whether the change leaves an API key the policy names named by no policy: such a key is the workspace's own
 * credential and calls every tool (ADR 0013). `stored.otherPrincipals`: the principals of the workspace's other
 * policies (four-eyes.ts reads them).
 */
function keysFreed(s: Json, next: unknown): boolean {
  const named = (list: unknown) =>
    new Set(((list ?? []) as Principal[]).filter((p) => p.type === 'api_key').map((p) => p.value));
  const others = named(s.otherPrincipals);
  const kept = named(next);
  return [...named(s.principals)].some((k) => !kept.has(k) && !others.has(k));
}

/**
 * A new policy grants its servers and tools to its principals (`enforce: false` only stops its condition refusing):
 * a loosening, unless every principal is an API key no other policy names. Such a key calls every tool (ADR 0013),
 * and the first policy naming it narrows it to what the policy grants.
 */
function policyCreationLoosens(s: Json, b: Json): boolean {
  const others = new Set(
    (list(s.otherPrincipals) as Principal[]).filter((p) => p.type === 'api_key').map((p) => p.value),
  );
  return (list(b.principals) as Principal[]).some((p) => p.type !== 'api_key' || others.has(p.value));
}

function policyLoosened(c: RequestedChange): string[] {
  const { stored: s, body: b } = c;
  if (c.created) return b && policyCreationLoosens(s, b) ? ['(created)'] : [];
  // A policy grants (the union of grants): deleting one narrows what its principals may call, unless it was the last
  // to name a key.
  if (!b) return keysFreed(s, []) ? ['principals'] : [];
  const out: string[] = [];
  for (const f of ['principals', 'servers', 'tools'] as const)
    if (b[f] !== undefined && (widened(s[f], b[f]) || (f === 'principals' && keysFreed(s, b[f])))) out.push(f);
  if (b.condition !== undefined && s.condition && canonical(b.condition) !== canonical(s.condition))
    out.push('condition');
  if (b.onFalse === 'require_approval' && (s.onFalse ?? 'refuse') === 'refuse' && s.condition) out.push('onFalse');
  if (b.approval !== undefined && approvalLoosened(s.approval as Approval, b.approval as Approval))
    out.push('approval');
  if (b.enforce === false && enforced(s.enforce)) out.push('enforce');
  return out;
}

/** Any new key is a new identity: it calls, and with `management` or `approve` it decides changes. */
function apiKeyLoosened({ stored: s, body: b, created }: RequestedChange): string[] {
  if (created) return ['(created)'];
  if (!b) return [];
  const out: string[] = [];
  // null lifts the restriction: every server of the workspace.
  if (b.serverIds === null && s.serverIds) out.push('serverIds');
  else if (Array.isArray(b.serverIds) && s.serverIds && widened(s.serverIds, b.serverIds)) out.push('serverIds');
  if (b.scopes !== undefined && widened(s.scopes, b.scopes)) out.push('scopes');
  // Out of the staging twin (ADR 0112): the key's calls reach production again.
  if (b.twin === false && s.twin === true) out.push('twin');
  return out;
}

const windowOrder = ['minute', 'hour', 'day', 'month'];

/**
 * A quota's `match` counts fewer calls: a list of it narrowed, or a field it did not have added (every given field must
 * hold). A field dropped widens what it counts.
 */
function matchNarrowed(prev: unknown, next: unknown): boolean {
  const p = (prev ?? {}) as Json;
  const n = (next ?? {}) as Json;
  return Object.keys(n).some((f) => n[f] !== undefined && (p[f] === undefined || narrowed(p[f], n[f])));
}

function quotaLoosened(c: RequestedChange): string[] {
  const { stored: s, body: b } = c;
  if (!b) return enforced(s.enforce) ? ['(deleted)'] : [];
  const out: string[] = [];
  if (typeof b.limit === 'number' && typeof s.limit === 'number' && b.limit > s.limit) out.push('limit');
  if (b.enforce === false && enforced(s.enforce)) out.push('enforce');
  // A shorter window forgets calls sooner; another way of counting, or a counter per caller, may count less.
  if (typeof b.window === 'string' && typeof s.window === 'string')
    if (windowOrder.indexOf(b.window) < windowOrder.indexOf(s.window)) out.push('window');
  if (sets(c, 'counts')) out.push('counts');
  if (b.per !== undefined && b.per !== null && sets(c, 'per')) out.push('per');
  if (b.match !== undefined && matchNarrowed(s.match, b.match)) out.push('match');
  return out;
}

/** How much of a result a guardrail's action keeps from the caller: `block` most, `flag` nothing. */
const actionStrength: Record<string, number> = { block: 2, redact: 1, flag: 0 };

/** A guardrail scans fewer calls: other or fewer tools of a server, or one server instead of all. */
function scopeNarrowed(s: Json, b: Json): boolean {
  const server = b.serverId !== undefined && canonical(b.serverId ?? null) !== canonical(s.serverId ?? null);
  if (server) return !(b.serverId === null && s.serverId);
  const before = list(s.tools);
  const after = b.tools === undefined ? before : list(b.tools);
  return after.length > 0 && (before.length === 0 || narrowed(before, after));
}

function guardrailLoosened({ stored: s, body: b }: RequestedChange): string[] {
  if (!b) return enforced(s.enforce) ? ['(deleted)'] : [];
  const out: string[] = [];
  if (b.enforce === false && enforced(s.enforce)) out.push('enforce');
  if (b.detectors !== undefined && narrowed(s.detectors, b.detectors)) out.push('detectors');
  if (typeof b.action === 'string' && typeof s.action === 'string')
    if ((actionStrength[b.action] ?? 0) < (actionStrength[s.action] ?? 0)) out.push('action');
  if (b.on !== undefined && narrowed(s.on ?? ['results'], b.on ?? ['results'])) out.push('on');
  if (scopeNarrowed(s, b)) out.push(b.serverId !== undefined ? 'serverId' : 'tools');
  // Larger results scanned rather than blocked unscanned.
  if (typeof b.maxBytes === 'number' && typeof s.maxBytes === 'number' && b.maxBytes > s.maxBytes) out.push('maxBytes');
  return out;
}

/**
 * A registered external MCP server: `autoAccept` publishes every change of its tools unreviewed (ADR 0061), whether
 * turned on or registered on.
 */
function externalServerLoosened({ stored: s, body: b }: RequestedChange): string[] {
  return b?.autoAccept === true && s.autoAccept !== true ? ['autoAccept'] : [];
}

type Rule = {
  id: string;
  after?: unknown;
  toolLabels?: unknown;
  enforce?: boolean;
  approval?: Approval;
  action?: string;
};

/** The ids of the session rules a change loosens, each `rules[<id>]`. */
function rulesLoosened(prev: unknown, next: unknown): string[] {
  const now = new Map((list(next) as Rule[]).map((r) => [r.id, r]));
  const out: string[] = [];
  for (const p of list(prev) as Rule[]) {
    const n = now.get(p.id);
    const looser =
      !n ||
      (p.enforce !== false && n.enforce === false) ||
      narrowed(p.after, n.after) ||
      narrowed(p.toolLabels, n.toolLabels) ||
      (p.action === 'refuse' && n.action === 'require_approval') ||
      (p.action === 'require_approval' && approvalLoosened(p.approval, n.approval));
    if (looser) out.push(`rules[${p.id}]`);
  }
  return out;
}

function sessionLoosened({ stored: s, body: b }: RequestedChange): string[] {
  if (s.configured === false) return [];
  if (!b) return list(s.rules).length > 0 ? ['rules'] : [];
  const out = rulesLoosened(s.rules, b.rules);
  if (typeof b.ttlSeconds === 'number' && typeof s.ttlSeconds === 'number' && b.ttlSeconds < s.ttlSeconds)
    out.push('ttlSeconds');
  return out;
}

/** The four-eyes setting itself: switching it off, fewer approvals, longer-lived requests, other approvers. */
function settingsLoosened({ stored: s, body: b }: RequestedChange): string[] {
  if (s.enabled !== true) return [];
  if (!b) return ['enabled'];
  const out: string[] = [];
  if (b.enabled === false) out.push('enabled');
  if (typeof b.approvals === 'number' && b.approvals < (s.approvals as number)) out.push('approvals');
  if (typeof b.expiresInSeconds === 'number' && b.expiresInSeconds > (s.expiresInSeconds as number))
    out.push('expiresInSeconds');
  if (b.approvers !== undefined && approversWidened(s.approvers, b.approvers)) out.push('approvers');
  return out;
}

/** Each approver a setting names, as `<list> <value>`; empty: none named (whoever may change policies decides). */
function named(approvers: unknown): Set<string> {
  return new Set(
    Object.entries(isObject(approvers) ? approvers : {}).flatMap(([k, l]) => list(l).map((v) => `${k} ${String(v)}`)),
  );
}

/**
 * Who decides widens when someone is named who was not, or when none is named any more (then whoever may change
 * policies decides). An approver removed leaves fewer who may decide: no one gains a say (ADR 0087).
 */
function approversWidened(prev: unknown, next: unknown): boolean {
  const [p, n] = [named(prev), named(next)];
  if (n.size === 0) return p.size > 0;
  return p.size > 0 && [...n].some((a) => !p.has(a));
}

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Each OpenAPI operation's (`<method> <path>`) value of the extension `name`. */
function extensions(document: unknown, name: string): [string, unknown][] {
  const paths = isObject(document) && isObject(document.paths) ? document.paths : {};
  return Object.entries(paths).flatMap(([path, item]) =>
    isObject(item)
      ? Object.entries(item).flatMap(([method, op]) =>
          isObject(op) && op[name] !== undefined ? [[`${method} ${path}`, op[name]] as [string, unknown]] : [],
        )
      : [],
  );
}

/** One operation's cost against cost quotas, and what it is known by: its name, and what it calls (method and path). */
interface Priced {
  names: string[];
  cost: number;
}

const costOf = (v: unknown) => (typeof v === 'number' ? v : 1);

/**
 * Every operation's cost (ADR 0048): a descriptor's operations (`cost`, default 1) by `operation_id` and by method and
 * endpoint; an OpenAPI document's operations (`x-toolplane-cost`, default 1) by method and path and `operationId`.
 */
function pricedOf({ descriptor, document }: Json): Priced[] {
  const d = isObject(descriptor) ? descriptor : {};
  const declared = list(d.operations).flatMap((o) =>
    isObject(o)
      ? [
          {
            names: [`id ${String(o.operation_id)}`, `${String(o.method).toUpperCase()} ${String(o.endpoint)}`],
            cost: costOf(o.cost),
          },
        ]
      : [],
  );
  const paths = isObject(document) && isObject(document.paths) ? document.paths : {};
  const methods = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
  const documented = Object.entries(paths).flatMap(([path, item]) =>
    isObject(item)
      ? Object.entries(item).flatMap(([method, op]) =>
          methods.has(method) && isObject(op)
            ? [
                {
                  names: [
                    `${method.toUpperCase()} ${path}`,
                    ...(typeof op.operationId === 'string' ? [`id ${op.operationId}`] : []),
                  ],
                  cost: costOf(op['x-toolplane-cost']),
                },
              ]
            : [],
        )
      : [],
  );
  return [...declared, ...documented];
}

/**
 * Whether some operation costs less than before, judged by what it is rather than what it is called: an operation
 * known before by its name or by what it calls costs less now; or operations were replaced (renamed, moved) and one
 * that is new costs less than the dearest one dropped (a renamed operation must not lower its cost
 * unheld).
 */
function costLowered(before: Priced[], after: Priced[]): boolean {
  const matches = (a: Priced, b: Priced) => a.names.some((n) => b.names.includes(n));
  if (before.some((b) => after.some((a) => matches(a, b) && a.cost < b.cost))) return true;
  const dropped = before.filter((b) => !after.some((a) => matches(a, b)));
  const added = after.filter((a) => !before.some((b) => matches(a, b)));
  const dearest = Math.max(...dropped.map((b) => b.cost));
  return added.some((a) => a.cost < dearest);
}

/** The data-flow labels each route mapping (by tool) and each OpenAPI operation declares (ADR 0078). */
function labelsOf({ descriptor, document }: Json): Map<string, unknown> {
  const c = isObject(descriptor) && isObject(descriptor.mcp_config) ? descriptor.mcp_config : {};
  const routes = list(c.route_mappings).flatMap((m) =>
    isObject(m) ? [[String(m.mcp_tool_name), m.labels ?? []] as [string, unknown]] : [],
  );
  return new Map([...routes, ...extensions(document, 'x-toolplane-labels')]);
}

/** The result shape each route mapping declares for its tool. */
function shapesOf({ descriptor }: Json): Map<string, string> {
  const c = isObject(descriptor) && isObject(descriptor.mcp_config) ? descriptor.mcp_config : {};
  return new Map(
    list(c.route_mappings).flatMap((m) =>
      isObject(m) ? [[String(m.mcp_tool_name), canonical(m.result_shape ?? null)] as [string, string]] : [],
    ),
  );
}

/** Whether some key both maps hold has a value `looser(before, after)` says is looser. */
function someLooser<T>(before: Map<string, T>, after: Map<string, T>, looser: (b: T, a: T) => boolean): boolean {
  return [...before].some(([k, b]) => after.has(k) && looser(b, after.get(k)!));
}

/**
 * A connector's document replaced (`stored` and `body`: `{ descriptor, document }` as read): an operation that costs
 * less against cost quotas (by what it calls, whatever its name), a tool or operation that declares fewer data-flow labels, a result shape changed (what a
 * result shows). Operations and tools added or removed change what servers expose, not a rule.
 */
function connectorLoosened({ stored: s, body: b }: RequestedChange): string[] {
  if (!b) return [];
  const out: string[] = [];
  if (costLowered(pricedOf(s), pricedOf(b))) out.push('cost');
  if (someLooser(labelsOf(s), labelsOf(b), narrowed)) out.push('labels');
  if (someLooser(shapesOf(s), shapesOf(b), (x, y) => x !== y)) out.push('result_shape');
  return out;
}

/** What an enterprise IdP's ID-JAGs are checked against: who it lets in (ADR 0082). Its `name` only labels it. */
const idpChecks = ['issuer', 'jwksUrl', 'clientId', 'userClaim'] as const;

/**
 * An enterprise IdP lets people in (ADR 0082): adding one (`stored` empty, no issuer: a create) loosens; changing its
 * issuer, keys, client or the claim that names the person may let other people in. Removing it, renaming it or rotating
 * its client secret lets no one new in.
 */
function enterpriseIdpLoosened(c: RequestedChange): string[] {
  if (!c.body) return [];
  if (c.created || c.stored.issuer === undefined) return ['(created)'];
  return idpChecks.filter((f) => sets(c, f));
}

type Assignment = { subject?: string; group?: string; roles?: string[] };

/** Each (subject or group, role) pair a mapping assigns. */
function rolePairs(assignments: unknown): Set<string> {
  return new Set(
    (list(assignments) as Assignment[]).flatMap((a) =>
      list(a.roles).map(
        (r) => `${a.subject !== undefined ? `subject ${a.subject}` : `group ${a.group}`}: ${String(r)}`,
      ),
    ),
  );
}

/**
 * The workspace's role mapping (who holds `admin`, `approver`, …): any subject or group gaining a role, another groups
 * claim (other people in the groups), or the mapping removed (everyone signed in an admin again). A first mapping
 * narrows: without one everyone signed in is an admin.
 */
function roleMappingLoosened({ stored: s, body: b }: RequestedChange): string[] {
  if (s.configured !== true) return [];
  if (!b) return ['(deleted)'];
  const before = rolePairs(s.assignments);
  const gained = [...rolePairs(b.assignments)].filter((p) => !before.has(p));
  return [
    ...gained.map((p) => `assignments[${p}]`),
    ...((b.groupsClaim ?? null) !== (s.groupsClaim ?? null) ? ['groupsClaim'] : []),
  ];
}

/**
 * A person added (`POST /external_users`) reaches what policies grant the people they name: the new person's name
 * (a policy written ahead of them) or every person (`external_user: "*"`). A token naming them as its user, and any
 * principal a policy names with them, then acts as them. Named by no policy, the person reaches nothing.
 */
function externalUserLoosened({ stored: s, body: b, created }: RequestedChange): string[] {
  if (!created || !b) return [];
  const name = String(b.name).toLowerCase();
  const named = list(s.otherPrincipals).some((p) => {
    const x = p as { type?: unknown; value?: unknown };
    return x.type === 'external_user' && (x.value === '*' || String(x.value).toLowerCase() === name);
  });
  return named ? ['(created)'] : [];
}

/**
 * The SCIM token (`POST /scim_token`, creating or rotating it): a credential its holder provisions people with, and
 * the SCIM groups access policies and role mappings name: a new one always loosens; its deletion never does.
 */
function scimTokenLoosened({ created }: RequestedChange): string[] {
  return created ? ['(created)'] : [];
}

const byKind: Record<LooseningKind, (c: RequestedChange) => string[]> = {
  server: serverLoosened,
  access_policy: policyLoosened,
  api_key: apiKeyLoosened,
  quota: quotaLoosened,
  guardrail: guardrailLoosened,
  session_settings: sessionLoosened,
  change_approvals: settingsLoosened,
  external_server: externalServerLoosened,
  connector: connectorLoosened,
  enterprise_idp: enterpriseIdpLoosened,
  role_mapping: roleMappingLoosened,
  external_user: externalUserLoosened,
  scim_token: scimTokenLoosened,
};

/**
 * The kinds whose creation (`POST`) can grant access, judged by what it creates: four eyes guard it too
 * (four-eyes.ts). A new quota, guardrail or connector adds a rule or an API, and grants no one anything.
 */
export const creationLoosens: ReadonlySet<LooseningKind> = new Set([
  'enterprise_idp',
  'access_policy',
  'api_key',
  'server',
  'external_server',
  'external_user',
  'scim_token',
]);

/**
 * The fields `change` loosens on a resource of `kind` (`(deleted)`: deleting it removes a rule in force; `(created)`:
 * creating it grants someone access, for the kinds in `creationLoosens`).
 */
export function loosenedFields(kind: LooseningKind, change: RequestedChange): string[] {
  return byKind[kind](change);
}

/** Fields that carry credentials' values: a change request never stores them. */
const credentialKeys = new Set(['headers', 'credentials']);

/**
 * The paths in `body` holding a credential's value (an inline external MCP server's `headers`, an instance's
 * `credentials`): a change request is refused rather than store one.
 */
export function credentialPaths(body: unknown, path = ''): string[] {
  if (body === null || typeof body !== 'object') return [];
  return Object.entries(body).flatMap(([k, v]) =>
    credentialKeys.has(k) && v !== null && typeof v === 'object' && Object.keys(v).length > 0
      ? [`${path}/${k}`]
      : credentialPaths(v, `${path}/${k}`),
  );
}
