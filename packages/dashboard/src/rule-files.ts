import type { Schemas } from './api.ts';

/**
 * A rule editor's body as the workspace file a backtest takes (docs/governance.md, "Try a rule on past calls";
 * docs/gitops.md for the files): the body the editor would send to the API, its servers and API keys named by name
 * instead of id, as every reference in the files is. A field the body leaves out is left out of the file, which means
 * the API's default there too. A file replaces the rule of its name, or adds one; JSON is valid YAML.
 */
export interface RuleFile {
  path: string;
  content: string;
}

/** The workspace's names by id (servers, API keys); an id without a name stays as it is, as an export writes it. */
export interface Names {
  servers: ReadonlyMap<string, string>;
  apiKeys: ReadonlyMap<string, string>;
}

/** Names from the lists a page loaded. */
export function namesOf(lists: { servers?: { id: string; name: string }[]; apiKeys?: { id: string; name: string }[] }) {
  const byId = (rows: { id: string; name: string }[] = []) => new Map(rows.map((r) => [r.id, r.name]));
  return { servers: byId(lists.servers), apiKeys: byId(lists.apiKeys) } satisfies Names;
}

const nameIn = (of: ReadonlyMap<string, string>) => (id: string) => of.get(id) ?? id;

const file = (path: string, spec: unknown): RuleFile => ({ path, content: `${JSON.stringify(spec, null, 2)}\n` });

type Approval = NonNullable<Schemas['AccessPolicyBody']['approval']>;

/** An approval rule (a policy's `approval`, a session rule's) with its approving API keys by name. */
function approvalFile<A extends Pick<Approval, 'approvers'>>(approval: A, names: Names): A {
  const { apiKeys } = approval.approvers;
  return {
    ...approval,
    approvers: { ...approval.approvers, ...(apiKeys ? { apiKeys: apiKeys.map(nameIn(names.apiKeys)) } : {}) },
  };
}

/** `access-policies/<name>.yaml`: its API key principals, servers and approvers by name. */
export function policyFile(body: Schemas['AccessPolicyBody'], names: Names): RuleFile {
  const spec = {
    ...body,
    principals: body.principals.map((p) =>
      p.type === 'api_key' ? { ...p, value: nameIn(names.apiKeys)(p.value) } : p,
    ),
    servers: body.servers.map((s) => (s === '*' ? s : nameIn(names.servers)(s))),
    ...(body.approval ? { approval: approvalFile(body.approval, names) } : {}),
  };
  return file(`access-policies/${body.name}.yaml`, spec);
}

/** `quotas/<name>.yaml`: the servers and API keys its match selects, by name. */
export function quotaFile(body: Schemas['CreateQuotaBody'], names: Names): RuleFile {
  const { servers, apiKeys } = body.match;
  const match = {
    ...body.match,
    ...(servers ? { servers: servers.map(nameIn(names.servers)) } : {}),
    ...(apiKeys ? { apiKeys: apiKeys.map(nameIn(names.apiKeys)) } : {}),
  };
  return file(`quotas/${body.name}.yaml`, { ...body, match });
}

/** `guardrails/<name>.yaml`: its server by name (`server`, where the API takes `serverId`; null: every server). */
export function guardrailFile(body: Schemas['CreateGuardrailBody'], names: Names): RuleFile {
  const { serverId, ...rest } = body;
  return file(`guardrails/${body.name}.yaml`, { ...rest, server: serverId ? nameIn(names.servers)(serverId) : null });
}

/** `session.yaml`: the session settings, replaced whole; each approval rule's API keys by name. */
export function sessionFile(body: Schemas['PutSessionSettingsBody'], names: Names): RuleFile {
  const rules = body.rules.map((r) => (r.approval ? { ...r, approval: approvalFile(r.approval, names) } : r));
  return file('session.yaml', { ...body, rules });
}

/**
 * `mcp-servers/<name>.yaml` with only the server's `confirmTools`: of a server's file a backtest judges those alone, the
 * other fields left out (they would mean their defaults to a plan, not to the backtest).
 */
export function confirmationsFile(server: string, confirmTools: readonly string[]): RuleFile {
  return file(`mcp-servers/${server}.yaml`, { name: server, confirmTools });
}
