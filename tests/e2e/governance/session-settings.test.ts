import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { redisKeys, WorkspaceAccess, type SessionRule } from '../../../packages/contracts/src/index.ts';
import { addToSession } from '../../../packages/queue/src/index.ts';
import type { RedisClient } from '@toolplane/redis';
import pg from 'pg';
import { sessionRuleVersion } from '../../../services/control-plane/src/resources/sessions/settings.ts';
import { stackRedis, startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Rules that see the session, the control plane's part (ADR 0078, docs/governance.md "Rules that see the session"): a
 * new workspace starts with the default rule in log-only mode, approved by its first key; `PUT /session_settings`
 * lists every problem, refuses who may not change policies, and publishes into `WorkspaceAccess.session`; one session
 * is read (origins only, never what it came through) and ended (audit event `session.ended`); the explanation of a
 * call names the session rules of the tool and the label that decides; an approval under a session rule's version
 * can be decided.
 */

let stack: Stack;
let api: ManagementClient;
let redis: RedisClient;
let db: pg.Client;
let workspaceId: string;
let bootstrapKeyId: string;
let example: RegisteredExample;

beforeAll(async () => {
  ({ stack, api } = await startTestStack('session-settings'));
  redis = stackRedis(stack);
  db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
  const keys = (await unwrap(api.GET('/api_keys'))).data;
  bootstrapKeyId = keys.find((k) => stack.bootstrapKey.startsWith(k.prefix))!.id;
  example = await registerTicketExample(api, 'http://127.0.0.1:9', 'ticket-key', 'sessions');
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await db?.end();
  await stack?.stop();
});

/** The access document the edges read (Redis), once `ready` holds for it. */
function published(ready: (a: WorkspaceAccess) => boolean, id = workspaceId): Promise<WorkspaceAccess> {
  return waitFor(`the access document of ${id}`, async () => {
    const text = await redis.get(redisKeys(stack.redisPrefix).access(id));
    const access = text ? WorkspaceAccess.parse(JSON.parse(text)) : undefined;
    return access && ready(access) && access;
  });
}

const defaultRule = (keyId: string | undefined): SessionRule => {
  // The bootstrap workspace's only key is the deployment's bootstrap key, never in the files: the group `admins`.
  const approvers = keyId ? { apiKeys: [keyId] } : { groups: ['admins'] };
  const approval = { approvers, approvals: 1, expiresInSeconds: 3600 };
  const rule = {
    id: 'private-or-untrusted-then-send',
    name: 'Approval to send data out after private or untrusted content',
    after: ['private', 'untrusted'] as SessionRule['after'],
    toolLabels: ['external_write', 'public_write'] as SessionRule['toolLabels'],
    action: 'require_approval' as const,
    enforce: false,
  };
  return { ...rule, approval: { version: sessionRuleVersion(rule, approval), ...approval } };
};

async function problemOf(res: Response): Promise<{ status: number; type: string; paths: string[] }> {
  const body = (await res.json()) as { errors?: { path: string }[] };
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    paths: (body.errors ?? []).map((e) => e.path).sort(),
  };
}

const put = (body: unknown, key = stack.bootstrapKey) =>
  fetch(`${stack.controlPlaneUrl}/api/v1/session_settings`, {
    method: 'PUT',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('session settings', () => {
  it('gives a new workspace the default rule, log only, approved by its first key, published to the edges', async () => {
    const settings = await unwrap(api.GET('/session_settings'));
    expect(settings).toMatchObject({ configured: true, ttlSeconds: 86_400, rules: [defaultRule(undefined)] });
    expect((await published((a) => a.session !== undefined)).session).toEqual({
      ttlSeconds: 86_400,
      rules: [defaultRule(undefined)],
    });
    // A workspace created through the API: its own first key approves.
    const created = await unwrap(api.POST('/workspaces', { body: { name: `sessions-${randomUUID().slice(0, 8)}` } }));
    const other = createManagementClient(stack.controlPlaneUrl, created.apiKey.key);
    expect((await unwrap(other.GET('/session_settings'))).rules).toEqual([defaultRule(created.apiKey.id)]);
    expect((await published((a) => a.session !== undefined, created.id)).session!.rules).toEqual([
      defaultRule(created.apiKey.id),
    ]);
  });

  it('refuses a bad rule with every problem listed at its path (problem+json), changing nothing', async () => {
    const before = await unwrap(api.GET('/session_settings'));
    const bad = {
      ttlSeconds: 5,
      rules: [
        { id: 'no spaces!', after: ['secret'], toolLabels: [], action: 'require_approval', enforce: true },
        { id: 'twice', after: ['private'], toolLabels: ['external_write'], action: 'refuse', enforce: true },
        { id: 'twice', after: ['private'], toolLabels: ['external_write'], action: 'hide', enforce: 'yes' },
      ],
    };
    expect(await problemOf(await put(bad))).toEqual({
      status: 422,
      type: expect.stringContaining('application/problem+json'),
      paths: [
        '/rules/0/after/0',
        '/rules/0/approval',
        '/rules/0/id',
        '/rules/0/toolLabels',
        '/rules/2/action',
        '/rules/2/enforce',
        '/rules/2/id',
        '/ttlSeconds',
      ],
    });
    // Approvers the workspace does not have: each listed.
    const unknown = {
      rules: [
        {
          id: 'ask',
          after: ['untrusted'],
          toolLabels: ['public_write'],
          action: 'require_approval',
          approval: { approvers: { apiKeys: [randomUUID()], people: ['nobody'] } },
          enforce: true,
        },
      ],
    };
    expect((await problemOf(await put(unknown))).paths).toEqual([
      '/rules/0/approval/approvers/apiKeys/0',
      '/rules/0/approval/approvers/people/0',
    ]);
    expect(await unwrap(api.GET('/session_settings'))).toEqual(before);
  });

  it('is changed only by a caller who may change policies; a change is published with its approval’s version', async () => {
    const limited = (
      await unwrap(
        api.POST('/api_keys', { body: { name: 'limited', scopes: ['management'], serverIds: [example.serverId] } }),
      )
    ).key;
    const rule = {
      id: 'no-send',
      after: ['private'],
      toolLabels: ['external_write'],
      action: 'require_approval',
      approval: { approvers: { apiKeys: [bootstrapKeyId] } },
      enforce: true,
    };
    const refused = await put({ ttlSeconds: 600, rules: [] }, limited);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    const ok = await put({ ttlSeconds: 600, rules: [rule] });
    expect(ok.status).toBe(200);
    const stored = { approvers: { apiKeys: [bootstrapKeyId] }, approvals: 1, expiresInSeconds: 86_400 };
    const version = sessionRuleVersion(rule as SessionRule, stored);
    const access = await published((a) => a.session?.ttlSeconds === 600);
    expect(access.session).toEqual({
      ttlSeconds: 600,
      rules: [{ ...rule, approval: { version, ...stored } }],
    });
  });

  it('lets an approver decide a call held under an enforced session rule (its version in force)', async () => {
    const { rules } = await unwrap(api.GET('/session_settings'));
    const version = rules[0]!.approval!.version;
    const id = randomUUID();
    const requester = { type: 'api_key', id: 'another-key', name: null, keyId: 'another-key' };
    const rule = { approvers: { apiKeys: [bootstrapKeyId] }, approvals: 1, expiresInSeconds: 3600 };
    await db.query(
      `INSERT INTO approvals (id, workspace_id, server_id, server_name, tool, binding, arguments_digest, arguments,
         requester, rule_version, rule, state, requested_at, expires_at, updated_at)
       VALUES ($1, $2, $3, 'sessions', 'create_ticket', $4, 'digest', '{}', $5, $6, $7, 'pending', now(),
         now() + interval '1 hour', now())`,
      [id, workspaceId, example.serverId, `binding-${id}`, requester, version, rule],
    );
    const decided = await api.POST('/approvals/{id}/approve', { params: { path: { id } }, body: {} });
    expect([decided.response.status, decided.data?.state]).toEqual([200, 'granted']);
  });

  it('reads one session (origins only) and ends it, with an audit event', async () => {
    const scope = `k:${randomUUID()}`;
    const at = Date.now();
    await addToSession(
      redis,
      { prefix: stack.redisPrefix, workspaceId, session: { scopes: [scope], ttlSeconds: 600, via: 'mcp-session-x' } },
      {
        tool: 'get_ticket',
        serverId: example.serverId,
        invocationId: 'inv-1',
        at,
        labels: [{ label: 'private', source: 'guardrail', detector: 'pii:card' }],
        countCall: true,
      },
    );
    const path = { scope };
    const read = await unwrap(api.GET('/sessions/{scope}', { params: { path } }));
    expect(read).toEqual({
      scope,
      labels: [
        {
          label: 'private',
          source: 'guardrail',
          tool: 'get_ticket',
          serverId: example.serverId,
          invocationId: 'inv-1',
          at: new Date(at).toISOString(),
          detector: 'pii:card',
        },
      ],
      calls: [
        {
          serverId: example.serverId,
          tool: 'get_ticket',
          count: 1,
          firstAt: new Date(at).toISOString(),
          lastAt: new Date(at).toISOString(),
        },
      ],
    });
    expect(JSON.stringify(read)).not.toContain('mcp-session-x');
    const ended = await api.DELETE('/sessions/{scope}', { params: { path } });
    expect(ended.response.status).toBe(204);
    expect(await unwrap(api.GET('/sessions/{scope}', { params: { path } }))).toEqual({ scope, labels: [], calls: [] });
    const requestId = ended.response.headers.get('x-request-id')!;
    const event = await waitFor('the session.ended event', async () => {
      const page = await unwrap(api.GET('/audit_events', { params: { query: { limit: 50 } } }));
      return page.data.find((e) => e.source.requestId === requestId);
    });
    expect(event).toMatchObject({
      action: 'session.ended',
      resource: { type: 'session', id: scope },
      outcome: 'success',
      actor: { type: 'api_key', id: bootstrapKeyId },
    });
    // Not a scope of the forms sessionScopes makes: 422.
    expect((await api.GET('/sessions/{scope}', { params: { path: { scope: 'x:1' } } })).response.status).toBe(422);
  });

  it('explains which session rules apply to a tool, and which label of the caller’s session decides', async () => {
    // The tool's catalog labels, as the control plane resolves them when it builds a catalog (here set in its row).
    await db.query(
      `UPDATE catalog_versions c SET catalog = jsonb_set(c.catalog::jsonb, '{tools}', (
         SELECT jsonb_agg(CASE WHEN t->'tool'->>'name' = 'create_ticket'
           THEN t || '{"labels": [{"label": "external_write", "source": "declared"}]}' ELSE t END)
         FROM jsonb_array_elements(c.catalog::jsonb->'tools') t))::json
       FROM mcp_servers s WHERE s.id = c.server_id AND c.version = s.catalog_version AND s.id = $1`,
      [example.serverId],
    );
    const explain = (tool: string) =>
      unwrap(
        api.POST('/access_policies/explain', {
          body: { caller: { api_key: bootstrapKeyId }, server: example.serverId, tool },
        }),
      );
    // A tool that sends nothing out: the answer has no session part.
    expect(await explain('get_ticket')).not.toHaveProperty('session');
    expect((await explain('create_ticket')).session).toEqual({
      rules: [expect.objectContaining({ id: 'no-send', action: 'require_approval', enforce: true })],
      labels: [],
      decided_by: null,
    });
    const at = Date.now();
    await addToSession(
      redis,
      { prefix: stack.redisPrefix, workspaceId, session: { scopes: [`k:${bootstrapKeyId}`], ttlSeconds: 600 } },
      {
        tool: 'get_ticket',
        serverId: example.serverId,
        invocationId: 'inv-2',
        at,
        labels: [{ label: 'private', source: 'declared' }],
        countCall: false,
      },
    );
    const session = (await explain('create_ticket')).session!;
    expect(session.labels).toEqual(['private']);
    expect(session.decided_by).toMatchObject({
      rule: { id: 'no-send' },
      enforce: true,
      label: 'private',
      origin: { tool: 'get_ticket', invocation_id: 'inv-2', at: new Date(at).toISOString(), source: 'declared' },
    });
    expect(session.decided_by!.why).toMatch(/^Held by session rule no-send: "create_ticket" sends data out/);
  });
});
