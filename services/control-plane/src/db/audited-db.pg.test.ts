import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AuditEvent } from '@toolplane/contracts';
import { auditedDb, auditScopes, type AuditScope } from './audited-db.ts';
import { createDb, type Db } from './client.ts';
import { migratedTestDatabase } from './test-database.ts';

let plain: Db;
let db: Db;
const committed: AuditEvent[] = [];
let workspaceId: string;

/** A request's scope as http/audit.ts makes it: one event owed, for `accessPolicy` rows. */
function scope(action = 'access_policy.create'): AuditScope {
  const id = randomUUID();
  return {
    recorded: undefined,
    open: true,
    model: () => 'accessPolicy',
    pending: () => ({
      id,
      at: new Date().toISOString(),
      workspaceId,
      actor: { type: 'api_key', id: 'k', name: 'ops' },
      action,
      resource: { type: 'access_policy', id: null },
      source: { requestId: `r-${id}`, traceId: null, clientAddress: null, userAgent: null },
      details: null,
    }),
  };
}

const policy = (name: string) => ({ workspaceId, name, principals: [], servers: ['*'], tools: ['*'] });
const eventsOf = (s: AuditScope) => plain.auditEvent.findMany({ where: { requestId: s.pending()!.source.requestId } });

beforeAll(async () => {
  plain = createDb(await migratedTestDatabase('audited_db'));
  db = auditedDb(plain, (e) => committed.push(e));
  const org = await plain.organization.create({ data: { name: `o-${randomUUID()}` } });
  workspaceId = (await plain.workspace.create({ data: { organizationId: org.id, name: 'w' } })).id;
});

afterAll(async () => {
  await plain?.$disconnect();
});

describe('auditedDb', () => {
  it('a write outside a transaction becomes one with its event: the row and the event, once', async () => {
    const s = scope();
    const row = await auditScopes.run(s, () => db.accessPolicy.create({ data: policy('a') }));
    await auditScopes.run(s, () => db.accessPolicy.create({ data: policy('b') })); // the event is owed once
    const [event, ...more] = await eventsOf(s);
    expect(more).toEqual([]);
    expect(event).toMatchObject({ action: 'access_policy.create', resourceId: row.id, outcome: 'success' });
    expect(s.recorded?.id).toBe(event!.id);
    expect(committed.map((e) => e.id)).toContain(event!.id);
  });

  it('a transaction that only reads carries no event; the first that writes does, with the row before and after', async () => {
    const created = await plain.accessPolicy.create({ data: policy('c') });
    const s = scope('access_policy.update');
    await auditScopes.run(s, () => db.$transaction((tx) => tx.accessPolicy.findMany({ where: { workspaceId } })));
    expect(await eventsOf(s)).toEqual([]);
    await auditScopes.run(s, () =>
      db.$transaction((tx) => tx.accessPolicy.update({ where: { id: created.id }, data: { name: 'c2' } })),
    );
    const [event] = await eventsOf(s);
    expect(event!.changes).toEqual({ name: { before: 'c', after: 'c2' } });
  });

  it('a transaction that fails after its writes leaves neither the change nor the event, and the event is owed again', async () => {
    const s = scope();
    await expect(
      auditScopes.run(s, () =>
        db.$transaction(async (tx) => {
          await tx.accessPolicy.create({ data: policy('d') });
          throw new Error('the change fails after its write');
        }),
      ),
    ).rejects.toThrow('the change fails');
    expect(await plain.accessPolicy.findFirst({ where: { workspaceId, name: 'd' } })).toBeNull();
    expect(await eventsOf(s)).toEqual([]);
    expect(s.recorded).toBeUndefined();
    await auditScopes.run(s, () => db.accessPolicy.create({ data: policy('d') }));
    expect(await eventsOf(s)).toHaveLength(1);
  });

  it('outside an audited request, or once the answer is sent, writes are plain', async () => {
    const before = await plain.auditEvent.count();
    await db.accessPolicy.create({ data: policy('e') });
    const s = { ...scope(), open: false };
    await auditScopes.run(s, () => db.accessPolicy.create({ data: policy('f') }));
    expect(await plain.auditEvent.count()).toBe(before);
  });
});
