import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AuditEventInput } from '@toolplane/contracts';
import pg from 'pg';
import { approvalRuleVersion, type StoredApprovalRule } from '../../catalog/approvals.ts';
import { AuditTrail } from '../../db/audit-trail.ts';
import { createDb, type Db } from '../../db/client.ts';
import { migratedTestDatabase } from '../../db/test-database.ts';
import { present } from './handlers.ts';
import { approvalChange } from './ingest.ts';
import { applyApprovalsRetention } from './retention.ts';

/**
 * The `approvals` table in PostgreSQL: an edge's `approval.requested` event makes one row and announces it once, to the
 * webhooks of the rule it was made under (a workflow tool's: the servers with that rule); retention deletes requests
 * that ended long enough ago and never one still waiting.
 */

let db: Db;
let pool: pg.Pool;
let trail: AuditTrail;
let workspaceId: string;
const rule: StoredApprovalRule = {
  approvers: { apiKeys: ['k-approver'] },
  approvals: 1,
  expiresInSeconds: 3600,
  notify: [
    { url: 'https://hooks.example.com/a', format: 'json' },
    { url: 'https://hooks.example.com/a', format: 'slack' },
  ],
};
const servers = { orders: '', flows: '' };

function requested(serverId: string, server: string, tool: string, at = new Date()): AuditEventInput {
  const id = randomUUID();
  return {
    id: randomUUID(),
    at: at.toISOString(),
    workspaceId,
    actor: { type: 'api_key', id: 'k-caller', name: 'agent' },
    action: 'approval.requested',
    resource: { type: 'approval', id },
    outcome: 'success',
    status: null,
    source: { requestId: null, traceId: null, clientAddress: null, userAgent: null },
    changes: null,
    details: {
      approval: { id, binding: `b-${id}`, expiresAt: new Date(at.getTime() + 3_600_000).toISOString() },
      server: { id: serverId, name: server },
      tool,
      argumentsDigest: 'd',
      arguments: { id: '1', passcode: '[masked]' },
      requester: { keyId: 'k-caller' },
      rule: { version: approvalRuleVersion(rule), ...rule, notify: undefined },
    },
  };
}

/** What the control plane's stream does with one event: append it with its change, then what it announces. */
async function ingest(event: AuditEventInput) {
  const approval = approvalChange(event)!;
  await trail.appendAlone(event, approval.change);
  return approval.created();
}

beforeAll(async () => {
  const url = await migratedTestDatabase('approvals');
  db = createDb(url);
  pool = new pg.Pool({ connectionString: url, max: 2 });
  trail = new AuditTrail(db, () => undefined);
  const org = await db.organization.create({ data: { name: 'o' } });
  workspaceId = (await db.workspace.create({ data: { organizationId: org.id, name: 'w' } })).id;
  const server = (name: string, extra: object) =>
    db.mcpServer.create({ data: { workspaceId, name, selectedTools: [], ...extra } });
  servers.orders = (await server('orders', { approvalTools: ['delete_order'], approvalRule: rule as object })).id;
  servers.flows = (await server('flows', {})).id;
});

afterAll(async () => {
  await db?.$disconnect();
  await pool?.end();
});

describe('approval requests from the edges', () => {
  it('make one row, announced once to the rule’s webhooks; a second delivery announces nothing', async () => {
    const event = requested(servers.orders, 'orders', 'delete_order');
    const made = await ingest(event);
    expect(made).toMatchObject({
      id: event.resource.id,
      workspaceId,
      requesterName: 'agent',
      details: { tool: 'delete_order', arguments: { passcode: '[masked]' } },
      notify: rule.notify,
    });
    expect(await ingest(event)).toBeUndefined();
    // The same request in another event (a replay with a new event id): the row is there, nothing is announced.
    expect(await ingest({ ...event, id: randomUUID() })).toBeUndefined();
    expect(await db.approval.count({ where: { id: event.resource.id! } })).toBe(1);
  });

  it('a workflow tool inheriting a step’s rule is announced to the webhooks of the servers with that rule', async () => {
    const made = await ingest(requested(servers.flows, 'flows', 'wf_delete'));
    expect(made?.notify).toEqual(rule.notify);
  });

  it('a session rule’s hold keeps its reason and the origin record, shown by the API (never the MCP session)', async () => {
    const event = requested(servers.flows, 'flows', 'create_gist');
    const at = Date.parse('2026-11-28T01:00:00.000Z');
    const origin = { label: 'untrusted', source: 'declared', tool: 'get_issue', serverId: servers.flows };
    const session = {
      reason: 'session rule "nothing-out" holds a call that sends data out when this session already holds …',
      origin: { ...origin, invocationId: randomUUID(), at, via: 'task:t-1', rule: 'nothing-out' },
    };
    (event.details as { rule: object }).rule = { ...(event.details as { rule: object }).rule, session };
    await ingest(event);
    const row = await db.approval.findUniqueOrThrow({ where: { id: event.resource.id! } });
    const { via: _via, ...kept } = session.origin;
    expect(present(row).rule.session).toEqual({
      reason: session.reason,
      origin: { ...kept, at: '2026-11-28T01:00:00.000Z' },
    });
    // A reason of another shape is left out; the request is made all the same.
    const odd = requested(servers.flows, 'flows', 'create_gist');
    (odd.details as { rule: object }).rule = { ...(odd.details as { rule: object }).rule, session: { reason: 7 } };
    await ingest(odd);
    const plain = await db.approval.findUniqueOrThrow({ where: { id: odd.resource.id! } });
    expect(present(plain).rule).not.toHaveProperty('session');
  });

  it('a rule changed since the request (another version) announces nothing', async () => {
    const event = requested(servers.orders, 'orders', 'delete_order');
    (event.details as { rule: { version: string } }).rule.version = 'older';
    expect(await ingest(event)).toBeUndefined();
    expect(await db.approval.count({ where: { id: event.resource.id! } })).toBe(1);
  });
});

describe('retention of approval requests', () => {
  it('deletes requests that ended before the cutoff, never one still waiting', async () => {
    await db.approval.deleteMany({});
    const now = new Date('2027-06-01T00:00:00.000Z');
    const day = 86_400_000;
    const ago = (days: number) => new Date(now.getTime() - days * day);
    const row = async (name: string, at: Date, data: object) => {
      const event = requested(servers.orders, 'orders', name, at);
      await ingest(event);
      await db.approval.update({ where: { id: event.resource.id! }, data });
      return [name, event.resource.id!] as const;
    };
    const ids = new Map([
      await row('executed-old', ago(100), { state: 'executed', executedAt: ago(100) }),
      await row('executed-new', ago(100), { state: 'executed', executedAt: ago(80) }),
      await row('denied-old', ago(95), { state: 'denied', decidedAt: ago(95) }),
      await row('denied-new', ago(10), { state: 'denied', decidedAt: ago(10) }),
      await row('expired-old', ago(120), { state: 'expired', expiresAt: ago(119) }),
      await row('pending-past-expiry', ago(200), { expiresAt: ago(199) }),
      await row('granted-past-expiry', ago(200), { state: 'granted', decidedAt: ago(200), expiresAt: ago(199) }),
      // Still waiting: requested long ago (an approver's clock aside), its expiry ahead.
      await row('pending-live', ago(100), { expiresAt: new Date(now.getTime() + day) }),
      await row('granted-live', ago(100), { state: 'granted', decidedAt: ago(99), expiresAt: ago(-1) }),
    ]);
    // Two rows a batch: the pass goes on until a batch finds fewer.
    expect(await applyApprovalsRetention(pool, now, 90, 2)).toBe(5);
    const left = (await db.approval.findMany({ select: { tool: true } })).map((r) => r.tool).sort();
    expect(left).toEqual(['denied-new', 'executed-new', 'granted-live', 'pending-live']);
    expect(ids.size).toBe(9);
    expect(await applyApprovalsRetention(pool, now, 90)).toBe(0);
  });
});
