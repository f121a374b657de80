import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AuditEventInput } from '@toolplane/contracts';
import { appendAuditEvent } from '../../db/audit-trail.ts';
import { createDb, type Db } from '../../db/client.ts';
import { migratedTestDatabase } from '../../db/test-database.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { listAuditEvents } from './handlers.ts';
import { ListAuditQuery } from './schemas.ts';

/**
 * `GET /audit_events` with each filter its index serves (actor by id or name, action, resource type and id, outcome)
 * and those it finds through the chain's actions and `at_floor` (an action's patterns, the time bounds, ADR 0105) answers
 * the workspace's events that match, in either order, page after page, and none of another workspace's chain: events
 * appended late (an `at` before the chain's latest) included.
 */

let db: Db;
beforeAll(async () => {
  db = createDb(await migratedTestDatabase('audit_list'), () => undefined, 2);
});
afterAll(async () => {
  await db?.$disconnect();
});

const [workspace, other] = [randomUUID(), randomUUID()];
const keyId = randomUUID();

/** The same events in each workspace's chain, one a minute, appended as the control plane appends them. */
function events(workspaceId: string): AuditEventInput[] {
  const variants: Partial<AuditEventInput>[] = [
    {},
    { action: 'server.update', resource: { type: 'server', id: 's-1' } },
    { action: 'server.delete', resource: { type: 'server', id: 's-1' }, outcome: 'refused', status: 403 },
    { actor: { type: 'oauth_subject', id: 'user-1', name: 'Ana' }, action: 'access.would_refuse' },
    { actor: { type: 'person', id: 'p-1', name: 'deploy-bot' }, outcome: 'failed', status: 500 },
    { action: 'quota.would_refuse', resource: { type: 'tool', id: 'get_ticket' } },
    {
      actor: { type: 'api_key', id: keyId, name: 'ci' },
      action: 'server.create',
      resource: { type: 'server', id: 's-2' },
    },
    { outcome: 'declined', status: null },
  ];
  const start = Date.parse('2026-11-20T10:00:00Z');
  // Appended last, with an `at` among the first events': an edge's events that reached the control plane late.
  const late: Partial<AuditEventInput>[] = [
    { at: '2026-11-20T10:04:30.000Z', actor: { type: 'system', id: null, name: 'edge' }, action: 'tool.would_refuse' },
    { at: '2026-11-20T09:00:00.000Z', actor: { type: 'system', id: null, name: 'edge' }, action: 'tool.refuse' },
    { at: '2026-11-20T10:11:59.999Z', actor: { type: 'system', id: null, name: 'edge' }, outcome: 'refused' },
    // Less than a minute behind the chain's latest: counted in time order.
    { at: '2026-11-20T10:14:30.000Z', actor: { type: 'system', id: null, name: 'edge' }, action: 'tool.refuse' },
  ];
  return [...variants, ...variants, ...late].map((v, i) => ({
    id: randomUUID(),
    at: new Date(start + i * 60_000).toISOString(),
    workspaceId,
    actor: { type: 'api_key', id: 'k-1', name: 'deploy-bot' },
    action: 'api_key.create',
    resource: { type: 'api_key', id: 'k-9' },
    outcome: 'success',
    status: 201,
    source: { requestId: randomUUID(), traceId: null, clientAddress: null, userAgent: null },
    changes: null,
    details: null,
    ...v,
  }));
}

let mine: AuditEventInput[];
beforeAll(async () => {
  mine = events(workspace);
  const theirs = events(other);
  for (const [i, e] of mine.entries()) {
    await db.$transaction((tx) => appendAuditEvent(tx, e));
    await db.$transaction((tx) => appendAuditEvent(tx, theirs[i]!));
  }
});

/** Every page of the trail with `query`, three events a page: the events' ids in the order the pages gave them. */
async function listed(query: Record<string, string>): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const q = ListAuditQuery.parse({ ...query, limit: '3', ...(cursor ? { cursor } : {}) });
    const input = { query: q, caller: { workspaceId: workspace } } as unknown as Input<undefined, ListAuditQuery>;
    const page = await listAuditEvents({ db } as ControlPlaneDeps, input);
    ids.push(...page.data.map((e) => e.id));
    cursor = page.next_cursor;
  } while (cursor);
  return ids;
}

/** The workspace's events that `match`, oldest first (the order they were appended in). */
const expected = (match: (e: AuditEventInput) => boolean) => mine.filter(match).map((e) => e.id);

describe('the audit trail, filtered', () => {
  it.each<[string, Record<string, string>, (e: AuditEventInput) => boolean]>([
    ['no filter', {}, () => true],
    ['an actor, by id', { actor: keyId }, (e) => e.actor.id === keyId],
    ['an actor, by name', { actor: 'deploy-bot' }, (e) => e.actor.name === 'deploy-bot'],
    ['an actor with no events', { actor: 'nobody' }, () => false],
    ['an action', { action: 'server.update' }, (e) => e.action === 'server.update'],
    ["a resource's actions", { action: 'server.*' }, (e) => e.action.startsWith('server.')],
    ["an action of every resource's", { action: '*.would_refuse' }, (e) => e.action.endsWith('.would_refuse')],
    ['a prefix no action has', { action: 'workspace.*' }, () => false],
    ['a suffix no action has', { action: '*.rotate' }, () => false],
    ['a prefix one action has', { action: 'tool.*' }, (e) => e.action.startsWith('tool.')],
    ['a resource type', { resource_type: 'server' }, (e) => e.resource.type === 'server'],
    ['a resource', { resource_id: 's-1' }, (e) => e.resource.id === 's-1'],
    ['an outcome', { outcome: 'refused' }, (e) => e.outcome === 'refused'],
    ['the successes', { outcome: 'success' }, (e) => e.outcome === 'success'],
    ['an outcome that never happened', { outcome: 'cancelled' }, () => false],
    [
      'an actor and an outcome',
      { actor: 'deploy-bot', outcome: 'failed' },
      (e) => e.actor.name === 'deploy-bot' && e.outcome === 'failed',
    ],
    [
      'a time range',
      { from: '2026-11-20T10:03:00Z', to: '2026-11-20T10:12:00Z' },
      (e) => e.at >= '2026-11-20T10:03:00' && e.at < '2026-11-20T10:12:00',
    ],
    ['up to a time', { to: '2026-11-20T10:05:00Z' }, (e) => e.at < '2026-11-20T10:05:00'],
    ['from a time', { from: '2026-11-20T10:12:00Z' }, (e) => e.at >= '2026-11-20T10:12:00'],
    ['up to a time among the last', { to: '2026-11-20T10:14:40Z' }, (e) => e.at < '2026-11-20T10:14:40'],
    ['from a time among the last', { from: '2026-11-20T10:14:20Z' }, (e) => e.at >= '2026-11-20T10:14:20'],
    ['after every event', { from: '2026-11-21T00:00:00Z' }, () => false],
    ['before every event', { to: '2026-11-20T08:00:00Z' }, () => false],
    [
      'a time range and a pattern',
      { from: '2026-11-20T10:01:00Z', to: '2026-11-20T10:12:00Z', action: '*.would_refuse' },
      (e) => e.at >= '2026-11-20T10:01:00' && e.at < '2026-11-20T10:12:00' && e.action.endsWith('.would_refuse'),
    ],
  ])('%s: the matching events, newest first and oldest first, every page', async (_name, query, match) => {
    const want = expected(match);
    expect(await listed({ ...query, order: 'asc' })).toEqual(want);
    expect(await listed(query)).toEqual([...want].reverse());
  });

  it('has events for the filters to find (the cases above are not judged on empty answers)', () => {
    expect(expected((e) => e.actor.name === 'deploy-bot')).toHaveLength(12);
    expect(expected((e) => e.action.endsWith('.would_refuse'))).toHaveLength(5);
    expect(expected((e) => e.at < '2026-11-20T10:05:00')).toHaveLength(7);
  });
});
