import { describe, expect, it } from '@jest/globals';
import type { CatalogTool, WorkspaceAccess } from '@toolplane/contracts';
import { PAGE, replay, type RecordSource, type ReplayedRecord } from './replay.ts';
import type { Rules } from './rules.ts';

const entry = {
  tool: { name: 'read', inputSchema: { type: 'object' } },
  plan: { kind: 'http', params: [] },
} as unknown as CatalogTool;
const access: WorkspaceAccess = { v: 1, workspaceId: 'w', policies: [] };
const rules: Rules = { access, guardrails: [] };
const limited: Rules = {
  access: {
    ...access,
    quotas: [{ id: 'q', name: 'one a day', match: {}, counts: 'calls', limit: 1, window: 'day', enforce: true }],
  },
  guardrails: [],
};

function record(i: number): ReplayedRecord {
  const at = new Date(Date.UTC(2026, 10, 27, 0, 0, i));
  const id = `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`;
  const values = { byKey: 'k', byPerson: '', byTool: 'read', byDay: '2026-11-27' };
  const call = {
    id,
    serverId: 's',
    serverName: 'srv',
    at: at.getTime(),
    entry,
    tool: { def: entry.tool },
    identity: { keyId: 'k' },
    caller: { key_id: 'k' },
    args: {},
  };
  return { id, at, values, call };
}

/** A source of `n` records that counts its pages and can abort `controller` after the first. */
function source(n: number, controller?: AbortController) {
  const all = Array.from({ length: n }, (_, i) => record(i));
  const seen = { pages: 0 };
  const s: RecordSource = {
    page(after, limit) {
      seen.pages++;
      const start = after ? all.findIndex((r) => r.id === after.id) + 1 : 0;
      if (seen.pages === 1) controller?.abort();
      return Promise.resolve(all.slice(start, start + limit));
    },
  };
  return { s, seen };
}

describe('replay', () => {
  it('reads in pages after the last record, and refuses past a quota in time order', async () => {
    const { s, seen } = source(PAGE + 5);
    const o = await replay(s, { current: rules, proposed: limited }, { maxCalls: 10 * PAGE });
    expect(seen.pages).toBe(2);
    expect(o).toMatchObject({ replayed: PAGE + 5, truncated: false, cancelled: false });
    expect(o.changes.newlyRefused.calls).toBe(PAGE + 4);
    expect(o.changes.newlyRefused.examples[0]).toBe(record(1).id);
  });

  it('stops at the call limit and says so', async () => {
    const { s } = source(50);
    const o = await replay(s, { current: rules, proposed: rules }, { maxCalls: 20 });
    expect(o).toMatchObject({ replayed: 20, truncated: true });
  });

  it('stops reading when the request is aborted (the client went away)', async () => {
    const controller = new AbortController();
    const { s, seen } = source(3 * PAGE, controller);
    const o = await replay(s, { current: rules, proposed: rules }, { maxCalls: 10 * PAGE, signal: controller.signal });
    expect(o.cancelled).toBe(true);
    expect(seen.pages).toBe(1);
    expect(o.replayed).toBe(PAGE);
  });
});
