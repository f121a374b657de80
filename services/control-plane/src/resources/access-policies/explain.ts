import {
  argumentsAsSent,
  explainAccess,
  type AccessExplanation,
  type CallerIdentity,
  type ConditionalTool,
  type ExplainCall,
} from '@toolplane/access';
import type { ConditionCaller } from '@toolplane/conditions';
import { quotaTakesCaller, quotaTakesTool, type Catalog, type QuotaRule } from '@toolplane/contracts';
import { tokenGroups } from '@toolplane/contracts/oauth-claims';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { explainSession } from './explain-session.ts';
import { workspaceAccess } from './publish.ts';
import type { ExplainBody } from './schemas.ts';

/**
 * `POST /access_policies/explain`: which policy grants or refuses a call, and why. The decision is the edge's, made by
 * the same code (`@toolplane/access`) on the policies the edges get; what the edge checks before it (the key itself,
 * the arguments against the tool's input schema) is said where it decides.
 */

/** The caller as the edge would see it, and what refuses it before any policy is read (a revoked key). */
interface ExplainedCaller {
  identity: CallerIdentity;
  caller: ConditionCaller;
  credentialName?: string;
  refusal?: string;
}

/** The key id conditions and decisions see for an external user named alone: a key no policy can name. */
const WORKSPACE_KEY = 'workspace-key';

type Found<T> = { ok: true; value: T } | { ok: false; issues: ProblemIssue[] };
const issue = (path: string, message: string): Found<never> => ({ ok: false, issues: [{ path, message }] });

async function keyCaller(db: Db, workspaceId: string, id: string): Promise<Found<ExplainedCaller>> {
  const key = isUuid(id) ? await db.apiKey.findFirst({ where: { id, workspaceId } }) : null;
  if (!key) return issue('/caller/api_key', `no API key ${JSON.stringify(id)} in this workspace`);
  // What the edge refuses before access policies (authenticate.ts): a revoked key, a key without "runtime".
  const refusal = key.revokedAt
    ? `API key ${key.id} is revoked: the edge refuses it ("Invalid API key.").`
    : key.scopes.includes('runtime')
      ? undefined
      : 'This API key has no "runtime" scope.';
  return {
    ok: true,
    value: {
      identity: { keyId: key.id, ...(key.serverIds.length > 0 ? { keyServerIds: key.serverIds } : {}) },
      caller: { key_id: key.id, key_name: key.name },
      ...(refusal ? { refusal } : {}),
    },
  };
}

/** An OAuth subject as a verified token shows it: its groups (given, or the `groups` claim) and its claims. */
function tokenCaller(subject: string, body: ExplainBody['caller']): ExplainedCaller {
  const claims = {
    sub: subject,
    ...body.claims,
    ...(body.groups && !body.claims?.groups ? { groups: body.groups } : {}),
  };
  return {
    identity: { subject, groups: body.groups ?? tokenGroups(claims) },
    caller: { subject, claims },
  };
}

async function userName(db: Db, workspaceId: string, idOrName: string): Promise<Found<string>> {
  const user = await db.externalUser.findFirst({
    where: isUuid(idOrName)
      ? { workspaceId, OR: [{ id: idOrName }, { name: idOrName }] }
      : { workspaceId, name: idOrName },
    select: { name: true },
  });
  if (!user) return issue('/caller/external_user', `no external user ${JSON.stringify(idOrName)} in this workspace`);
  return { ok: true, value: user.name };
}

/** The caller the body names: its credential (a key, a token, or the workspace's own key) and the user it acts as. */
async function explainedCaller(
  db: Db,
  workspaceId: string,
  body: ExplainBody['caller'],
): Promise<Found<ExplainedCaller>> {
  const user = body.external_user === undefined ? undefined : await userName(db, workspaceId, body.external_user);
  const credential: Found<ExplainedCaller> =
    body.api_key !== undefined
      ? await keyCaller(db, workspaceId, body.api_key)
      : body.oauth_subject !== undefined
        ? { ok: true, value: tokenCaller(body.oauth_subject, body) }
        : {
            ok: true,
            value: {
              identity: { keyId: WORKSPACE_KEY },
              caller: {},
              credentialName: 'an API key no access policy names',
            },
          };
  if (!credential.ok || (user && !user.ok))
    return {
      ok: false,
      issues: [...(credential.ok ? [] : credential.issues), ...(user && !user.ok ? user.issues : [])],
    };
  if (!user) return credential;
  const c = credential.value;
  return {
    ok: true,
    value: { ...c, identity: { ...c.identity, username: user.value }, caller: { ...c.caller, user: user.value } },
  };
}

/** The server's live catalog and the tool in it (by the name callers use); reachability reads it too. */
export async function explainedTool(
  db: Db,
  workspaceId: string,
  body: Pick<ExplainBody, 'server' | 'tool'>,
): Promise<Found<{ catalog: Catalog; tool: ConditionalTool; entry: Catalog['tools'][number] }>> {
  const server = await db.mcpServer.findFirst({
    where: isUuid(body.server) ? { id: body.server, workspaceId } : { name: body.server, workspaceId },
    select: { id: true, catalogVersion: true },
  });
  if (!server) return issue('/server', `no MCP server ${JSON.stringify(body.server)} in this workspace`);
  const version = await db.catalogVersion.findUnique({
    where: { serverId_version: { serverId: server.id, version: server.catalogVersion } },
    select: { catalog: true },
  });
  const catalog = version?.catalog as Catalog | undefined;
  const found = catalog?.tools.find((t) => t.tool.name === body.tool);
  if (!catalog || !found) {
    const names = (catalog?.tools ?? []).map((t) => t.tool.name);
    const listed =
      names.length === 0
        ? 'it has none'
        : `its tools: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}`;
    return issue(
      '/tool',
      `MCP server ${JSON.stringify(body.server)} has no tool ${JSON.stringify(body.tool)} (${listed})`,
    );
  }
  return { ok: true, value: { catalog, tool: { def: found.tool }, entry: found } };
}

/**
 * The guardrails the call passes through (ADR 0050): the server's catalog's, those of every tool or of this one, in the
 * order they are applied; each enforced or log only (ADR 0051), in a line.
 */
function guardrailsOf(catalog: Catalog, tool: string) {
  return (catalog.guardrails ?? [])
    .filter((g) => !g.tools || g.tools.includes(tool))
    .map((g) => {
      const on = g.on ?? ['results'];
      const what = `what ${[...new Set(g.detectors.map((d) => d.kind))].join(', ')} find in the ${on.join(' and ')}`;
      return {
        id: g.id,
        name: g.name,
        action: g.action,
        on,
        enforce: g.enforce,
        why: g.enforce ? `${g.action}s ${what}` : `would ${g.action} ${what} (log only: the caller sees no change)`,
      };
    });
}

/**
 * The quotas the call counts against (ADR 0048), as the edge finds them (`quotaTakesCaller`, `quotaTakesTool`): each
 * enforced or log only (ADR 0051), in a line. Usage is not read: whether there is room now is the edge's answer.
 */
function quotasOf(quotas: readonly QuotaRule[] | undefined, call: ExplainCall) {
  const { identity, caller } = call;
  const who = { keyId: identity.keyId, person: identity.username, subject: identity.subject, claims: caller.claims };
  return (quotas ?? [])
    .filter((q) => quotaTakesCaller(q, who, call.server.catalog.serverId) && quotaTakesTool(q, call.tool.def.name))
    .map((q) => {
      const per = q.per ? ` per ${q.per.replace('_', ' ')}` : '';
      const limit =
        q.counts === 'in_flight'
          ? `${q.limit} calls in flight${per}`
          : `${q.limit} ${q.counts === 'cost' ? 'cost units' : 'calls'} ${q.window === 'hour' ? 'an' : 'a'} ${q.window}${per}`;
      return {
        id: q.id,
        name: q.name,
        enforce: q.enforce,
        why: q.enforce
          ? `counts this call against ${limit}; refused past it`
          : `counts this call against ${limit}; would refuse past it (log only: the caller sees no change)`,
      };
    });
}

/** The answer: snake_case, each policy with its name. */
function present(
  e: AccessExplanation,
  call: ExplainCall,
  {
    refusal,
    catalog,
    quotas,
  }: { refusal: string | undefined; catalog: Catalog; quotas: readonly QuotaRule[] | undefined },
) {
  const allowed = e.allowed && refusal === undefined;
  const held = refusal === undefined ? e.approval : undefined;
  return {
    decision: allowed ? ('allow' as const) : held ? ('require_approval' as const) : ('deny' as const),
    reason: refusal ?? e.reason,
    approval: held
      ? {
          policy: held.policy ? { id: held.policy.id, name: held.policy.name ?? held.policy.id } : null,
          approvers: held.approvers,
          approvals: held.approvals,
          expires_in_seconds: held.expiresInSeconds,
        }
      : null,
    caller: e.who,
    server: { id: call.server.catalog.serverId, name: call.server.catalog.name },
    tool: call.tool.def.name,
    policies: e.policies.map((p) => ({
      id: p.policy.id,
      name: p.policy.name ?? p.policy.id,
      principals_match: p.matchedPrincipals.length > 0,
      matched_principals: p.matchedPrincipals,
      covers_server: p.coversServer,
      covers_tool: p.coversTool,
      condition: p.condition,
      enforce: p.enforced,
      why: p.why,
    })),
    guardrails: guardrailsOf(catalog, call.tool.def.name),
    quotas: quotasOf(quotas, call),
  };
}

/** `POST /access_policies/explain`: the decision for a caller, a tool and arguments, and each policy's part in it. */
export async function explainAccessDecision(
  deps: ControlPlaneDeps,
  { body, caller: { workspaceId } }: Input<ExplainBody>,
) {
  const { db } = deps;
  const [who, target] = await Promise.all([
    explainedCaller(db, workspaceId, body.caller),
    explainedTool(db, workspaceId, body),
  ]);
  if (!who.ok || !target.ok)
    throw new ValidationError(
      'the explanation cannot be made',
      [...(who.ok ? [] : who.issues), ...(target.ok ? [] : target.issues)],
      'request.invalid',
    );
  const { catalog, tool, entry } = target.value;
  const call: ExplainCall = {
    identity: who.value.identity,
    caller: who.value.caller,
    server: { catalog: { serverId: catalog.serverId, name: catalog.name } },
    tool,
    // As the edge sees them: the defaults the worker fills in applied (docs/governance.md "What `args` is").
    args: argumentsAsSent(entry, body.arguments ?? {}),
    credentialName: who.value.credentialName,
    toolApproval: entry.approval,
  };
  const access = await workspaceAccess(db, workspaceId);
  const explained = explainAccess(access, call);
  const answer = present(explained, call, { refusal: who.value.refusal, catalog, quotas: access.quotas });
  // Only where a session rule applies to the tool (ADR 0078): every other answer stays as it was.
  const session = await explainSession(deps, { workspaceId, settings: access.session, body, catalog }, entry);
  return session ? { ...answer, session } : answer;
}
