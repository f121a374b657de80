import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type Stack } from '@toolplane/cli';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { logLines } from '../../helpers/records.ts';

// The edge answers plain 2025-era `tools/call` requests without the MCP SDK's generic
// dispatch. It must write exactly what the SDK writes. Two stacks, identical but for MCP_FAST_PATH
// (each with its own freshly seeded upstream, so that the same calls in the same order give the same
// answers), receive the same corpus of requests: status, content type and body must be equal byte for
// byte, and the fast stack must have served the eligible ones itself (its debug log says so).

interface Side {
  stack: Stack;
  upstream: TicketSystem;
  url: string;
}
let fast: Side;
let sdk: Side;

async function side(label: string, fastPath: boolean): Promise<Side> {
  const upstream = await startTicketSystem({ apiKey: 'k', host: '127.0.0.1' });
  // An answer of about 40 KB, past the size the fast path copies into one buffer (ADR 0033).
  const comments = Array.from({ length: 400 }, (_, i) => ({ author: `u${i}@example.com`, text: `“${i}” \\ "q"\nok` }));
  upstream.tickets.set('TCK-BIG', { ...upstream.tickets.get('TCK-1')!, id: 'TCK-BIG', comments });
  const { stack, api } = await startTestStack(label, {
    logLevel: 'warn',
    serviceEnv: { edge: { MCP_FAST_PATH: String(fastPath), LOG_LEVEL: 'debug' } },
  });
  const example = await registerTicketExample(api, upstream.url, 'k', label);
  return { stack, upstream, url: example.mcpUrl };
}

const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25',
};

interface Case {
  label: string;
  /** Served by the fast path (the rest must go through the SDK on both sides). */
  fast: boolean;
  body: unknown;
  headers?: Record<string, string>;
}

const call = (id: unknown, name: string, args?: unknown) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: args === undefined ? { name } : { name, arguments: args },
});

const corpus: Case[] = [
  { label: 'a ticket (structured content)', fast: true, body: call(1, 'get_ticket', { ticket_id: 'TCK-1' }) },
  { label: 'a string id', fast: true, body: call('req-7', 'get_ticket', { ticket_id: 'TCK-2' }) },
  { label: 'id 0', fast: true, body: call(0, 'get_ticket', { ticket_id: 'TCK-3' }) },
  { label: 'a large id', fast: true, body: call(2 ** 40, 'get_ticket', { ticket_id: 'TCK-1' }) },
  { label: 'the upstream answers 404', fast: true, body: call(2, 'get_ticket', { ticket_id: 'TCK-404' }) },
  { label: 'a required argument missing', fast: true, body: call(3, 'get_ticket', {}) },
  { label: 'an argument of the wrong type', fast: true, body: call(4, 'get_ticket', { ticket_id: 5 }) },
  { label: 'no arguments member', fast: true, body: call(5, 'search_tickets') },
  { label: 'a query', fast: true, body: call(6, 'search_tickets', { status: 'open', limit: 2 }) },
  { label: 'a large answer', fast: true, body: call(11, 'get_ticket', { ticket_id: 'TCK-BIG' }) },
  {
    label: 'a POST with a body, non-ASCII text',
    fast: true,
    body: call(7, 'create_ticket', { title: 'Ünïcødé “quotes” 🎫', description: 'line\nbreak', priority: 'high' }),
  },
  { label: 'a tool that does not exist', fast: false, body: call(8, 'no_such_tool', {}) },
  {
    label: 'a progress token (SSE answer)',
    fast: false,
    body: {
      ...call(9, 'get_ticket', { ticket_id: 'TCK-1' }),
      params: { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' }, _meta: { progressToken: 'p' } },
    },
  },
  { label: 'a fractional id', fast: false, body: call(1.5, 'get_ticket', { ticket_id: 'TCK-1' }) },
  { label: 'arguments as an array', fast: false, body: call(10, 'get_ticket', ['TCK-1']) },
  { label: 'a null id', fast: false, body: call(null, 'get_ticket', { ticket_id: 'TCK-1' }) },
  {
    label: 'an unknown top-level member',
    fast: false,
    body: { ...call(11, 'get_ticket', { ticket_id: 'TCK-1' }), extra: 1 },
  },
  {
    label: 'Accept without text/event-stream',
    fast: false,
    body: call(12, 'get_ticket', { ticket_id: 'TCK-1' }),
    headers: { accept: 'application/json' },
  },
  {
    label: 'an unsupported protocol version header',
    fast: false,
    body: call(13, 'get_ticket', { ticket_id: 'TCK-1' }),
    headers: { 'mcp-protocol-version': '1999-01-01' },
  },
  { label: 'a plain call after the others', fast: true, body: call(14, 'get_ticket', { ticket_id: 'TCK-2' }) },
];

async function send(url: string, c: Case, key: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...HEADERS, 'x-api-key': key, ...c.headers },
    body: JSON.stringify(c.body),
  });
  return { status: res.status, type: res.headers.get('content-type')?.split(';')[0], body: await res.text() };
}

beforeAll(async () => {
  [fast, sdk] = await Promise.all([side('fastpath', true), side('sdkpath', false)]);
}, 120_000);

afterAll(async () => {
  for (const s of [fast, sdk]) {
    await s?.stack.stop();
    await s?.upstream.close();
  }
});

describe('the tools/call fast path', () => {
  it('answers every request of the corpus with the bytes the SDK writes, and serves the plain calls itself', async () => {
    const fastEdge = fast.stack.processes.find((p) => p.service === 'edge')!;
    const sdkEdge = sdk.stack.processes.find((p) => p.service === 'edge')!;
    const differences: unknown[] = [];
    const sizes = new Map<string, number>();
    for (const c of corpus) {
      const a = await send(fast.url, c, fast.stack.bootstrapKey);
      const b = await send(sdk.url, c, sdk.stack.bootstrapKey);
      sizes.set(c.label, a.body.length);
      if (JSON.stringify(a) !== JSON.stringify(b)) differences.push({ case: c.label, fast: a, sdk: b });
    }
    expect(differences).toEqual([]);
    expect(sizes.get('a large answer')).toBeGreaterThan(32 * 1024);
    // The fast edge logs each call it serves. The corpus ends with a fast case, and stdout is ordered:
    // once that line is read, every earlier one is, so the count says which cases took the fast path.
    expect(corpus.at(-1)!.fast).toBe(true);
    const expected = corpus.filter((c) => c.fast).length;
    const served = await waitFor('the fast edge logged its last call', () => {
      const n = logLines(fastEdge, 'tools/call fast path').length;
      return n >= expected ? n : undefined;
    });
    expect(served).toBe(expected);
    expect(logLines(sdkEdge, 'tools/call fast path')).toEqual([]);
    // Both upstreams saw the same requests (the fast path sends nothing more or less).
    const seen = (s: Side) =>
      s.upstream.requests.map((r) => `${r.method} ${r.path} ${JSON.stringify(r.query)} ${r.body}`);
    expect(seen(fast)).toEqual(seen(sdk));
  });
});

// The edge takes a plain MCP POST past express's router and body parser (services/edge/src/protocol/hot-lane.ts); a
// query string sends the same request through express. Both must answer alike, errors included.
describe('the hot lane', () => {
  const raw = (label: string, body: string, headers: Record<string, string> = {}) => ({ label, body, headers });
  const cases = [
    ...corpus.filter((c) => !c.label.startsWith('a POST')).map((c) => raw(c.label, JSON.stringify(c.body), c.headers)),
    raw(
      'initialize',
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
    ),
    raw('tools/list', JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' })),
    raw('a notification', JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })),
    raw('a batch', JSON.stringify([{ jsonrpc: '2.0', id: 3, method: 'tools/list' }])),
    raw('not JSON', '{"jsonrpc":'),
    raw('a JSON number', '1'),
    raw('a byte order mark', `\ufeff${JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/list' })}`),
    raw('an object id', JSON.stringify({ jsonrpc: '2.0', id: {}, method: 'tools/list' })),
    raw('too deep', `${'['.repeat(200)}${']'.repeat(200)}`),
    raw('charset utf-8', JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' }), {
      'content-type': 'application/json; charset=utf-8',
    }),
    raw('no API key', JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/list' }), { 'x-api-key': '' }),
    raw('a wrong API key', JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }), { 'x-api-key': 'tp_nope' }),
  ];

  async function post(url: string, c: (typeof cases)[number]) {
    const headers = Object.fromEntries(
      Object.entries({ ...HEADERS, 'x-api-key': fast.stack.bootstrapKey, ...c.headers }).filter(([, v]) => v !== ''),
    );
    const res = await fetch(url, { method: 'POST', headers, body: c.body });
    const kept = ['content-type', 'www-authenticate', 'retry-after'];
    return {
      status: res.status,
      // A session id is new each time: whether one is given must match.
      headers: [...kept.map((h) => res.headers.get(h)), res.headers.has('mcp-session-id')],
      body: await res.text(),
    };
  }

  it('answers every request as express does, errors included, on a known and an unknown server', async () => {
    const unknown = fast.url.replace(/[^/]+$/, '00000000-0000-4000-8000-000000000000');
    const differences: unknown[] = [];
    for (const url of [fast.url, unknown])
      for (const c of cases) {
        const hot = await post(url, c);
        const viaExpress = await post(`${url}?via=express`, c);
        if (JSON.stringify(hot) !== JSON.stringify(viaExpress))
          differences.push({ case: c.label, url, hot, viaExpress });
      }
    expect(differences).toEqual([]);
  });
});
