import { describe, expect, it } from '@jest/globals';
import type { CatalogTool, HttpOperationPlan, ToolInvokeJob } from '@toolplane/contracts';
import type { Invocation, ProcessorDeps } from '../invocation.ts';
import { runTwin } from './answer.ts';
import type { StoredObject, TwinStore } from './store.ts';

type Json = Record<string, unknown>;

/** The twin's store in memory: its state, its identifiers and no recording. */
function memoryStore(): TwinStore {
  const state = new Map<string, StoredObject>();
  let seq = 0;
  const store: Pick<TwinStore, 'object' | 'put' | 'nextId' | 'record' | 'recorded'> = {
    object: (_at, c, id) => Promise.resolve(state.get(`${c}\n${id}`)),
    put: (_at, c, id, v) => {
      state.set(`${c}\n${id}`, v);
      return Promise.resolve(true);
    },
    nextId: () => Promise.resolve(++seq),
    record: () => Promise.resolve(),
    recorded: () => Promise.resolve(undefined),
  };
  return store as TwinStore;
}

const issue = {
  type: 'object',
  properties: {
    id: { type: 'integer', example: 42 },
    number: { type: 'integer', example: 7 },
    title: { type: 'string', example: 'An example' },
    labels: { type: 'array', items: { $ref: '#/$defs/label' } },
  },
  $defs: { label: { type: 'object', properties: { name: { type: 'string', example: 'bug' } } } },
};

const path = (arg: string) => ({ arg, name: arg, in: 'path' as const });

function tool(name: string, method: HttpOperationPlan['method'], url: string, body = false): CatalogTool {
  const params = [path('owner'), ...(url.includes('{n}') ? [path('n')] : [])];
  if (body)
    params.push(
      { arg: 'title', name: 'title', in: 'body' } as never,
      { arg: 'labels', name: 'labels', in: 'body' } as never,
    );
  const plan: HttpOperationPlan = { kind: 'http', method, url, params, authHeaders: {}, secrets: {} };
  return { tool: { name, description: name, inputSchema: { type: 'object' }, outputSchema: issue }, plan };
}

const create = tool('create', 'POST', 'https://api.example.com/{owner}/issues', true);
const read = tool('read', 'GET', 'https://api.example.com/{owner}/issues/{n}');
const update = tool('update', 'PATCH', 'https://api.example.com/{owner}/issues/{n}', true);
const remove = tool('remove', 'DELETE', 'https://api.example.com/{owner}/issues/{n}');
const list = tool('list', 'GET', 'https://api.example.com/{owner}/issues');

function callOf(entry: CatalogTool, args: Json): Invocation {
  const job = {
    v: 2,
    invocationId: 'i',
    serverId: 's',
    catalogVersion: 1,
    tool: entry.tool.name,
    arguments: args,
    principal: { workspaceId: 'w', twin: true },
    deadlineAt: 0,
    replyTo: 'e',
  } as ToolInvokeJob;
  return { job } as Invocation;
}

describe('runTwin', () => {
  const plans = { tools: () => Promise.resolve([create, read, update, remove, list]) };
  const deps = { twin: memoryStore(), plans } as unknown as ProcessorDeps;
  const run = async (entry: CatalogTool, args: Json) => (await runTwin(deps, callOf(entry, args), entry)).result;

  it('creates, reads back, updates and deletes an object of the state', async () => {
    const created = await run(create, { owner: 'octo', title: 'Rehearsal', labels: ['bug'] });
    // The example answer, the request's title (its labels are objects in the answer: kept), new identifiers.
    expect(created.structuredContent).toEqual({ id: 1, number: 1, title: 'Rehearsal', labels: [{ name: 'bug' }] });
    expect(created._meta).toEqual({ 'toolplane/twin': { source: 'state', operation: 'create' } });
    expect((await run(read, { owner: 'octo', n: 1 })).structuredContent).toEqual(created.structuredContent);
    await run(update, { owner: 'octo', n: 1, title: 'Renamed' });
    expect((await run(read, { owner: 'octo', n: 1 })).structuredContent).toMatchObject({ title: 'Renamed' });
    expect((await run(remove, { owner: 'octo', n: 1 })).isError).toBeUndefined();
    const gone = await run(read, { owner: 'octo', n: 1 });
    expect(gone.isError).toBe(true);
    expect(gone.content[0]).toMatchObject({ text: expect.stringContaining('HTTP 404') });
  });

  it('answers what the state never saw from the response schema and its examples', async () => {
    const unseen = await run(read, { owner: 'octo', n: 99 });
    expect(unseen.structuredContent).toEqual({ id: 42, number: 7, title: 'An example', labels: [{ name: 'bug' }] });
    expect(unseen._meta).toEqual({ 'toolplane/twin': { source: 'generated' } });
    expect((await run(list, { owner: 'octo' }))._meta).toEqual({ 'toolplane/twin': { source: 'generated' } });
  });
});
