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
/** A SMART server whose create_ticket a person confirms before each call. */
let confirming: { id: string; url: string };
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

/** At most this many programs run at once on the edge, and this many of one caller (CODE_MODE_MAX_PROGRAMS*). */
const MAX_PROGRAMS = 3;
const MAX_PROGRAMS_PER_CALLER = 2;

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  // Ten minutes of wall time: no program here is stopped by its clock, whatever the machine's load (the wall time is
  // checked by services/edge/src/code-mode/code-sandbox.test.ts).
  const edge = {
    CODE_MODE_WALL_MS: '600000',
    CODE_MODE_MAX_PROGRAMS: String(MAX_PROGRAMS),
    CODE_MODE_MAX_PROGRAMS_PER_CALLER: String(MAX_PROGRAMS_PER_CALLER),
  };
  ({ stack, api } = await startTestStack('code-mode', { serviceEnv: { edge } }));
  example = await registerTicketExample(api, upstream.url, 'k', 'code-tickets');
  smart = await unwrap(api.POST('/mcp_manager', { body: { name: 'code-all', description: 'Everything' } }));
  confirming = await unwrap(
    api.POST('/mcp_manager', {
      body: { name: 'code-confirm', description: 'Everything', confirmTools: ['create_ticket'] },
    }),
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

const ERAS = ['2025-11-25', '2026-07-28'] as const;
type Era = (typeof ERAS)[number];
type Answer = 'accept' | 'decline';

/** A client of `era` on the confirming server that declares form-mode elicitation; its person answers `answer`. */
async function confirmingClient(era: Era, answer: Answer, asked: string[]): Promise<Client> {
  const client = new Client(
    { name: 'code-confirm', version: '1.0.0' },
    {
      capabilities: { elicitation: { form: {} } },
      ...(era === '2026-07-28' ? { versionNegotiation: { mode: { pin: '2026-07-28' as const } } } : {}),
    },
  );
  client.setRequestHandler('elicitation/create', (request) => {
    asked.push(String((request.params as { message?: string }).message));
    return Promise.resolve(answer === 'accept' ? { action: 'accept', content: {} } : { action: answer });
  });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(confirming.url), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  expect(client.getNegotiatedProtocolVersion()).toBe(era);
  return client;
}

/** What reached the ticket system since `from`: method and path of each request. */
const sentSince = (from: number) => upstream.requests.slice(from).map((r) => `${r.method} ${r.path}`);

describe.each(ERAS)('code mode: a confirm tool inside a program (%s client)', (era) => {
  it('accepted: the person is asked once, the program completes, each inner call reached the upstream once', async () => {
    const asked: string[] = [];
    const client = await confirmingClient(era, 'accept', asked);
    try {
      const before = upstream.requests.length;
      const r = await run(
        client,
        `const found = await tools.search_tickets({ limit: 1 });
         const first = await tools.get_ticket({ ticket_id: 'TCK-1' });
         const made = await tools.create_ticket({ title: 'from a program (${era})' });
         return { found: found.tickets.length, first: first.id, made: made.title };`,
      );
      expect(text(r)).not.toContain('Error');
      expect(value(r)).toEqual({ found: 1, first: 'TCK-1', made: `from a program (${era})` });
      expect(asked).toHaveLength(1);
      expect(asked[0]).toContain('"create_ticket"');
      expect(asked[0]).toContain(`from a program (${era})`);
      // On 2026-07-28 the program ran twice: the earlier calls were answered from the state the second time.
      expect(sentSince(before)).toEqual(['GET /api/v1/tickets', 'GET /api/v1/tickets/TCK-1', 'POST /api/v1/tickets']);
    } finally {
      await client.close();
    }
  });

  it('declined: the program catches the Error the model would read; nothing was sent', async () => {
    const asked: string[] = [];
    const client = await confirmingClient(era, 'decline', asked);
    try {
      const before = upstream.requests.length;
      const r = await run(
        client,
        "try { await tools.create_ticket({ title: 'declined' }); return 'made'; } catch (e) { return e.message; }",
      );
      expect(value(r)).toBe('The person declined this call of "create_ticket": it was not made, nothing was sent.');
      expect(asked).toHaveLength(1);
      expect(sentSince(before)).toEqual([]);
    } finally {
      await client.close();
    }
  });
});

describe('code mode: programs running at once', () => {
  /** A 2025-11-25 client whose person is asked (`asked`) and answers "decline" only once `answered` resolves. */
  async function heldClient(
    url: string,
    headers: Record<string, string>,
    wait: { asked: string[]; answered: Promise<void> },
  ): Promise<Client> {
    const client = new Client({ name: 'code-held', version: '1.0.0' }, { capabilities: { elicitation: { form: {} } } });
    client.setRequestHandler('elicitation/create', async (request) => {
      wait.asked.push(String((request.params as { message?: string }).message));
      await wait.answered;
      return { action: 'decline' };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
    return client;
  }
  const held = "try { await tools.create_ticket({ title: 'held' }); return 'made'; } catch (e) { return e.message; }";
  const refusal = (r: Result) => (r._meta as Record<string, unknown> | undefined)?.['toolplane/programs'];

  it('past its caller’s bound (anonymous: by address) or the edge’s, a program is refused, retryably; none is queued', async () => {
    const open = await unwrap(
      api.POST('/mcp_manager', {
        body: { name: 'code-public', description: 'Everything', confirmTools: ['create_ticket'], isPublic: true },
      }),
    );
    let answer!: () => void;
    const wait = { asked: [] as string[], answered: new Promise<void>((resolve) => (answer = resolve)) };
    const asked = (n: number) =>
      waitFor(`${n} programs waiting for their person`, () => wait.asked.length >= n || undefined);
    // Anonymous callers of a public server, all from this process's address: one caller.
    const anonymous = await Promise.all([1, 2, 3].map(() => heldClient(open.url, {}, wait)));
    const keyed = await heldClient(confirming.url, { 'x-api-key': stack.bootstrapKey }, wait);
    const other = await connect();
    const before = upstream.requests.length;
    const running: Promise<Result>[] = [];
    try {
      running.push(run(anonymous[0]!, held));
      await asked(1);
      running.push(run(anonymous[1]!, held));
      await asked(2);
      const third = await run(anonymous[2]!, 'return 1;');
      expect(third.isError).toBe(true);
      expect(text(third)).toContain(`you already have ${MAX_PROGRAMS_PER_CALLER} running`);
      expect(text(third)).toContain('retry in a moment');
      expect(refusal(third)).toEqual({ refused: 'caller', limit: MAX_PROGRAMS_PER_CALLER, retryable: true });

      // Another caller runs beside them, up to the edge's bound; past it anyone is refused.
      running.push(run(keyed, held));
      await asked(3);
      const past = await run(other, 'return 1;');
      expect(past.isError).toBe(true);
      expect(text(past)).toContain(`${MAX_PROGRAMS} are running here`);
      expect(refusal(past)).toEqual({ refused: 'edge', limit: MAX_PROGRAMS, retryable: true });

      answer();
      const ended = await Promise.all(running);
      expect(ended.map(value)).toEqual(Array(3).fill(expect.stringContaining('declined')));
      expect(sentSince(before)).toEqual([]);
      // Their places are given back.
      expect(value(await run(anonymous[2]!, 'return 1;'))).toBe(1);
      expect(value(await run(other, 'return 2;'))).toBe(2);
    } finally {
      answer();
      await Promise.allSettled(running);
      await Promise.all([...anonymous, keyed, other].map((c) => c.close()));
    }
  });
});

describe('code mode: 2026-07-28 rounds of a program, raw', () => {
  interface RawResult {
    isError?: boolean;
    content?: { text: string }[];
    structuredContent?: { result?: unknown };
    resultType?: string;
    inputRequests?: Record<string, { method?: string; params?: { message?: string } }>;
    requestState?: string;
  }
  const envelope = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
  };

  /** One raw 2026-07-28 `run_code` call on the confirming server, carrying what the client chose to. */
  async function rawRun(code: string, carry: { requestState?: string; accept?: boolean } = {}): Promise<RawResult> {
    const res = await fetch(confirming.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'x-api-key': stack.bootstrapKey,
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'run_code',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: {
          name: 'run_code',
          arguments: { code },
          ...(carry.requestState !== undefined ? { requestState: carry.requestState } : {}),
          ...(carry.accept ? { inputResponses: { toolplane_confirmation: { action: 'accept', content: {} } } } : {}),
          _meta: envelope,
        },
      }),
    });
    const raw = await res.text();
    // A call that may ask a person is answered on an SSE stream: its last data line is the response.
    const json = res.headers.get('content-type')?.includes('text/event-stream')
      ? raw
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .at(-1)!
          .slice(6)
      : raw;
    const body = JSON.parse(json) as { result?: RawResult };
    if (!body.result) throw new Error(`no result: ${res.status} ${raw}`);
    return body.result;
  }

  const program = (title: string) =>
    `const t = await tools.get_ticket({ ticket_id: 'TCK-2' });
     const made = await tools.create_ticket({ title: '${title}' });
     return [t.id, made.title];`;

  it('input_required carries the inner call’s input request and a sealed state; the retry completes the program', async () => {
    const before = upstream.requests.length;
    const first = await rawRun(program('raw round trip'));
    expect(first.resultType).toBe('input_required');
    expect(first.inputRequests!.toolplane_confirmation!.params!.message).toContain('"create_ticket"');
    expect(first.requestState).toMatch(/^tp-code\./);
    // Sealed and encrypted: what the program read is not in the state.
    expect(Buffer.from(first.requestState!.split('.')[2]!, 'base64url').toString('latin1')).not.toContain('TCK-2');
    expect(sentSince(before)).toEqual(['GET /api/v1/tickets/TCK-2']);
    const second = await rawRun(program('raw round trip'), { requestState: first.requestState!, accept: true });
    expect(second.isError).toBeFalsy();
    expect(second.structuredContent!.result).toEqual(['TCK-2', 'raw round trip']);
    expect(sentSince(before)).toEqual(['GET /api/v1/tickets/TCK-2', 'POST /api/v1/tickets']);
    // A state works once.
    const again = await rawRun(program('raw round trip'), { requestState: first.requestState!, accept: true });
    expect(again.isError).toBe(true);
    expect(again.content![0]!.text).toContain('not valid here (already used)');
    expect(sentSince(before)).toHaveLength(2);
  });

  it('a forged, altered or other program’s state is refused: the program is not run, nothing is sent', async () => {
    const first = await rawRun(program('forged'));
    const state = first.requestState!;
    const [purpose, iv, body, tag] = state.split('.');
    const flipped = Buffer.from(body!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    const before = upstream.requests.length;
    for (const [forged, why] of [
      [`${purpose}.${iv}.${flipped.toString('base64url')}.${tag}`, 'not one the edge made, or altered'],
      [`tp-code.${Buffer.from(JSON.stringify({ v: 1, made: [] })).toString('base64url')}`, 'not one the edge made'],
    ] as const) {
      const r = await rawRun(program('forged'), { requestState: forged, accept: true });
      expect(r.isError).toBe(true);
      expect(r.content![0]!.text).toContain(`not valid here (${why}`);
    }
    const other = await rawRun(program('another program'), { requestState: state, accept: true });
    expect(other.content![0]!.text).toContain('not valid here (made for another program or caller)');
    expect(sentSince(before)).toEqual([]);
  });
});

describe('code mode: an inner call held for approval', () => {
  it('the program gets an Error saying it waits for approval <id>', async () => {
    const approver = await unwrap(api.POST('/api_keys', { body: { name: 'code-approver', scopes: ['runtime'] } }));
    const key = await unwrap(api.POST('/api_keys', { body: { name: 'code-held', scopes: ['runtime'] } }));
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'code-held-searches',
          principals: [{ type: 'api_key', value: key.id }],
          servers: [smart.id],
          tools: ['search_tickets'],
          condition: 'args.limit <= 5',
          onFalse: 'require_approval',
          approval: { approvers: { apiKeys: [approver.id] } },
        },
      }),
    );
    const client = await connect({ 'x-api-key': key.key });
    try {
      const held = 'try { await tools.search_tickets({ limit: 20 }); } catch (e) { return e.message; }';
      const waiting = (r: Result) => {
        const m = value(r);
        return typeof m === 'string' && m.startsWith('waiting for approval') ? m : undefined;
      };
      await waitFor('the policy on the edge', async () => waiting(await run(client, held)));
      const before = upstream.requests.length;
      const message = waiting(await run(client, held));
      expect(message).toMatch(/^waiting for approval [0-9a-f-]{36}: /);
      expect(message).toContain('call "search_tickets" directly');
      expect(sentSince(before)).toEqual([]);
    } finally {
      await client.close();
    }
  });
});

describe('code mode: run_code on a SMART server', () => {
  it('declares the callable tools in TypeScript and runs a program combining two of them', async () => {
    const client = await connect();
    try {
      const run_code = (await client.listTools()).tools.find((t) => t.name === 'run_code')!;
      expect(run_code.description).toContain('declare const tools: {');
      expect(run_code.description).toMatch(/get_ticket\(args: \{ ticket_id: string \}\): Promise<unknown>;/);
      const found = await client.callTool({ name: 'search_tools', arguments: { query: 'get a ticket', limit: 1 } });
      const hit = (found.structuredContent as { results: { name: string; declaration: string }[] }).results[0]!;
      expect(hit.declaration).toMatch(new RegExp(`^${hit.name}\\(args: \\{ .* \\}\\): Promise<.*>;$`));
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
      // The trail's event of the program names each inner call by its record's id, in the order they were made.
      const program = await waitFor('the program’s audit event', async () => {
        const page = await unwrap(api.GET('/audit_events', { params: { query: { action: 'tool.program_run' } } }));
        return page.data.find((e) => e.details?.invocationId === parent);
      });
      expect(program).toMatchObject({ outcome: 'success', resource: { type: 'tool', id: `${smart.id}/run_code` } });
      const calls = program.details!.calls as { tool: string; invocationId: string; outcome: string }[];
      expect(calls.map((c) => [c.tool, c.outcome])).toEqual([
        ['search_tickets', 'ok'],
        ['get_ticket', 'ok'],
      ]);
      expect(calls.map((c) => c.invocationId).sort()).toEqual(inner.map((x) => x.id).sort());
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

  it('stops a program holding more memory than its limit, or flooding output; the edge keeps serving', async () => {
    const client = await connect();
    try {
      // QuickJS's own limit refuses one large allocation, never many smaller ones: the sandbox's memory is bounded
      // (the wall time here is ten minutes: only the memory limit can stop these).
      for (const code of [
        "const a = []; for (let i = 0; i < 64; i++) a.push('x'.repeat(1 << 20) + i); return a.length;",
        'const a = []; for (let i = 0; i < 96; i++) a.push(new Uint8Array(1 << 20)); return a.length;',
        'const a = []; for (let i = 0; ; i++) a.push({ i, s: String(i).repeat(8) });',
      ]) {
        const held = await run(client, code);
        expect(held.isError).toBe(true);
        expect(text(held)).toContain('The program used more than 32 MB of memory and was stopped.');
      }

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
  }, 120_000);
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
