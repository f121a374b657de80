import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';
import { onlyQuota } from '../../helpers/quotas.ts';
import { waitFor } from '../../helpers/wait.ts';

let stack: Stack;
let upstream: TicketSystem;
let api: ManagementClient;
let smart: { id: string; url: string };
let example: RegisteredExample;

type Result = Awaited<ReturnType<Client['callTool']>>;

async function connect(
  headers: Record<string, string> = { 'x-api-key': stack.bootstrapKey },
  url = smart.url,
): Promise<Client> {
  const client = new Client({ name: 'code-mode', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

async function run(client: Client, code: string): Promise<Result> {
  return (await client.callTool({ name: 'run_code', arguments: { code } })) as Result;
}

const text = (r: Result) => (r.content as { text: string }[]).map((c) => c.text).join('\n');
const value = (r: Result) => (r.structuredContent as { result: unknown }).result;
const invocationOf = (r: Result) => (r.structuredContent as { invocationId: string }).invocationId;

/** The records of the calls a program made (`?parent_invocation_id=`), once there are `count` of them. */
async function innerRecords(parent: string, count: number) {
  return waitFor(`${count} records of program ${parent}`, async () => {
    const page = await unwrap(api.GET('/execution_records', { params: { query: { parent_invocation_id: parent } } }));
    return page.data.length >= count ? page.data : undefined;
  });
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  ({ stack, api } = await startTestStack('code-mode'));
  example = await registerTicketExample(api, upstream.url, 'k', 'code-tickets');
  smart = await unwrap(api.POST('/mcp_manager', { body: { name: 'code-all', description: 'Everything' } }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

describe('code mode: run_code on a SMART server', () => {
  it('declares the callable tools in TypeScript and runs a program combining two of them', async () => {
    const client = await connect();
    try {
      const run_code = (await client.listTools()).tools.find((t) => t.name === 'run_code')!;
      expect(run_code.description).toContain('declare const tools: {');
      expect(run_code.description).toMatch(/get_ticket\(args: \{ ticket_id: string \}\): Promise<unknown>;/);
      const before = upstream.requests.length;
      const r = await run(
        client,
        `const found = await tools.search_tickets({ limit: 2 });
         const list = Array.isArray(found) ? found : found.tickets ?? found.items ?? found.data;
         const first = await tools.get_ticket({ ticket_id: 'TCK-3' });
         console.log('found', list.length);
         return { count: list.length, status: first.status };`,
      );
      expect(r.isError).toBeFalsy();
      expect(value(r)).toEqual({ count: 2, status: 'closed' });
      expect((r.structuredContent as { console: string }).console).toBe('found 2\n');
      expect(upstream.requests.length).toBe(before + 2);

      // The program has its record under the invocation id it returned; each inner call's record names it.
      const parent = invocationOf(r);
      const inner = await innerRecords(parent, 2);
      expect(inner.map((x) => x.tool).sort()).toEqual(['get_ticket', 'search_tickets']);
      expect(inner.every((x) => x.parent_invocation_id === parent && x.outcome === 'success')).toBe(true);
      const own = await waitFor('the program’s record', () =>
        unwrap(api.GET('/execution_records/{id}', { params: { path: { id: parent } } })).catch(() => undefined),
      );
      expect(own).toMatchObject({ tool: 'run_code', outcome: 'success', parent_invocation_id: null, steps: [] });
    } finally {
      await client.close();
    }
  });

  it('an inner call refused by a condition throws in the program, with the message the model would read', async () => {
    const key = await unwrap(api.POST('/api_keys', { body: { name: 'small-searches', scopes: ['runtime'] } }));
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'small-searches',
          principals: [{ type: 'api_key', value: key.id }],
          servers: [smart.id],
          tools: ['search_tickets'],
          condition: 'args.limit <= 10',
        },
      }),
    );
    const client = await connect({ 'x-api-key': key.key });
    try {
      const program = `
        const ok = await tools.search_tickets({ limit: 2 });
        try { await tools.search_tickets({ limit: 50 }); return 'not refused'; }
        catch (e) { return { ok: !!ok, refused: e.message }; }`;
      const r = await waitFor('the policy on the edge', async () => {
        const out = await run(client, program);
        return out.isError ? undefined : out;
      });
      const { refused } = value(r) as { refused: string };
      expect(refused).toContain('Access denied');
      expect(refused).toContain('args.limit <= 10');

      // The refusal's record and audit event both name the program.
      const parent = invocationOf(r);
      const inner = await innerRecords(parent, 2);
      expect(inner.map((x) => x.outcome).sort()).toEqual(['rejected', 'success']);
      const event = await waitFor('the refusal’s audit event', async () => {
        const page = await unwrap(api.GET('/audit_events', { params: { query: { action: 'tool.call_refused' } } }));
        return page.data.find((e) => e.details?.parentInvocationId === parent);
      });
      expect(event).toMatchObject({ outcome: 'refused', resource: { type: 'tool', id: `${smart.id}/search_tickets` } });
    } finally {
      await client.close();
    }
  });

  it('a quota counts inner calls one by one', async () => {
    await onlyQuota(api, {
      name: 'two-tickets',
      match: { tools: ['get_ticket'] },
      counts: 'calls',
      limit: 2,
      window: 'day',
    });
    // Published with the workspace's quotas, after it: a probe that refuses every create_ticket.
    await unwrap(
      api.POST('/quotas', {
        body: { name: 'probe', match: { tools: ['create_ticket'] }, counts: 'calls', limit: 0, window: 'day' },
      }),
    );
    const client = await connect();
    try {
      await waitFor('the quotas on the edge', async () => {
        const r = await run(
          client,
          `try { await tools.create_ticket({ title: 'x' }); } catch (e) { return e.message; }`,
        );
        return String(value(r)).includes('"probe"') ? true : undefined;
      });
      const r = await run(
        client,
        `const out = [];
         for (const id of ['TCK-1', 'TCK-2', 'TCK-3']) {
           try { out.push((await tools.get_ticket({ ticket_id: id })).id); } catch (e) { out.push(e.message); }
         }
         return out;`,
      );
      const out = value(r) as string[];
      expect(out.slice(0, 2)).toEqual(['TCK-1', 'TCK-2']);
      expect(out[2]).toContain('Quota "two-tickets"');
    } finally {
      await client.close();
    }
  });

  it('stops a program that loops forever, allocates without bound or floods output; the edge keeps serving', async () => {
    const client = await connect();
    try {
      const loop = await run(client, 'while (true) {}');
      expect(loop.isError).toBe(true);
      expect(text(loop)).toContain('ran longer than 10000 ms and was stopped');

      const bomb = await run(client, 'const a = []; while (true) a.push(new Array(100000).fill(a.length));');
      expect(bomb.isError).toBe(true);
      expect(text(bomb)).toContain('more than 32 MB of memory');

      const flood = await run(client, "for (let i = 0; i < 100000; i++) console.log('line ' + i); return 1;");
      expect(flood.isError).toBeFalsy();
      const out = (flood.structuredContent as { console: string }).console;
      expect(Buffer.byteLength(out)).toBeLessThan(17 * 1024);
      expect(out).toContain('[output truncated at 16384 bytes]');

      // get_ticket is over its quota by now (the test above): another tool.
      const after = await run(client, 'return (await tools.search_tickets({ limit: 1 })).tickets.length;');
      expect(text(after)).not.toContain('Error');
      expect(value(after)).toBe(1);
    } finally {
      await client.close();
    }
  }, 60_000);
});

describe('code mode on a NORMAL server', () => {
  it('lists run_code beside the tools when codeMode is on, runs a program, and lists no run_code when off', async () => {
    const server = await unwrap(
      api.POST('/mcp_manager', {
        body: { name: 'code-normal', mode: 'NORMAL', connectorInstanceId: example.instanceId, codeMode: true },
      }),
    );
    expect(server.codeMode).toBe(true);
    const url = `${stack.edgeUrl}/mcp/${server.id}`;
    const client = await connect(undefined, url);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['get_ticket', 'search_tickets', 'run_code']));
      // get_ticket is over its quota by now (the tests above): another tool.
      const r = await run(client, 'return (await tools.search_tickets({ limit: 1 })).tickets.length;');
      expect(text(r)).not.toContain('Error');
      expect(value(r)).toBe(1);
    } finally {
      await client.close();
    }

    await unwrap(api.PATCH('/mcp_manager/{id}', { params: { path: { id: server.id } }, body: { codeMode: false } }));
    const after = await connect(undefined, url);
    try {
      const names = await waitFor('the catalog without code mode', async () => {
        const listed = (await after.listTools()).tools.map((t) => t.name);
        return listed.includes('run_code') ? undefined : listed;
      });
      expect(names).toContain('get_ticket');
      // An unknown tool now: a JSON-RPC error (the SDK throws it).
      await expect(run(after, 'return 1;')).rejects.toThrow(/run_code/);
    } finally {
      await after.close();
    }
  });
});
