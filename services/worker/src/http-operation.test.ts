import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Agent, request as undiciRequest } from 'undici';
import type { HttpOperationPlan } from '@toolplane/contracts';
import { buildRequest, readBody, toToolResult } from './http-operation.ts';

const plan: HttpOperationPlan = {
  kind: 'http',
  method: 'POST',
  url: 'http://127.0.0.1:1/api/v1/projects/{project_key}/issues',
  params: [
    { arg: 'project', name: 'project_key', in: 'path' },
    { arg: 'labels', name: 'label', in: 'query' },
    { arg: 'trace', name: 'X-Trace', in: 'header' },
    { arg: 'session', name: 'sid', in: 'cookie' },
    { arg: 'title', name: 'title', in: 'body' },
    { arg: 'priority', name: 'priority', in: 'body', default: 'medium' },
  ],
  authHeaders: { 'X-API-Key': '{api_key}', Authorization: 'Bearer {token}' },
  secrets: { api_key: 'a', token: 'b' },
};

describe('buildRequest', () => {
  it('puts each argument where its parameter lives and fills auth header templates', () => {
    const req = buildRequest(
      plan,
      { project: 'A B/C', labels: ['x', 'y'], trace: 't1', session: 's=1', title: 'Hello' },
      { api_key: 'k1', token: 't0k' },
    );
    expect(req.method).toBe('POST');
    expect(req.url).toBe('http://127.0.0.1:1/api/v1/projects/A%20B%2FC/issues?label=x&label=y');
    expect(req.headers).toMatchObject({
      'x-trace': 't1',
      cookie: 'sid=s%3D1',
      'x-api-key': 'k1',
      authorization: 'Bearer t0k',
      'content-type': 'application/json',
    });
    expect(JSON.parse(req.body!)).toEqual({ title: 'Hello', priority: 'medium' });
  });

  it('omits optional arguments that were not given and have no default', () => {
    const req = buildRequest(
      { ...plan, method: 'GET', params: plan.params.filter((p) => p.in !== 'body') },
      { project: 'P' },
      { api_key: 'k', token: 't' },
    );
    expect(req.url).toBe('http://127.0.0.1:1/api/v1/projects/P/issues');
    expect(req.body).toBeUndefined();
    expect(req.headers.cookie).toBeUndefined();
  });
});

describe('buildRequest with OpenAPI serialization', () => {
  const base = { kind: 'http' as const, method: 'GET' as const, authHeaders: {}, secrets: {} };
  const url = (params: HttpOperationPlan['params'], args: Record<string, unknown>, template = 'http://h/items/{id}') =>
    decodeURIComponent(buildRequest({ ...base, url: template, params }, args, {}).url);

  it('serializes path values per style: simple, label and matrix, exploded or not', () => {
    const id = (style?: 'simple' | 'label' | 'matrix', explode?: boolean) => [
      {
        arg: 'id',
        name: 'id',
        in: 'path' as const,
        ...(style ? { style } : {}),
        ...(explode !== undefined ? { explode } : {}),
      },
    ];
    expect(url(id('simple'), { id: [3, 4, 5] })).toBe('http://h/items/3,4,5');
    expect(url(id('simple', true), { id: { role: 'admin', first: 'Alex' } })).toBe(
      'http://h/items/role=admin,first=Alex',
    );
    expect(url(id('simple'), { id: { role: 'admin', first: 'Alex' } })).toBe('http://h/items/role,admin,first,Alex');
    expect(url(id('label'), { id: [3, 4] })).toBe('http://h/items/.3,4');
    expect(url(id('label', true), { id: [3, 4] })).toBe('http://h/items/.3.4');
    expect(url(id('matrix'), { id: 5 })).toBe('http://h/items/;id=5');
    expect(url(id('matrix', true), { id: [3, 4] })).toBe('http://h/items/;id=3;id=4');
    expect(url(id('matrix'), { id: [3, 4] })).toBe('http://h/items/;id=3,4');
    // Reserved characters in values stay encoded.
    expect(
      buildRequest({ ...base, url: 'http://h/items/{id}', params: id('simple') }, { id: ['a/b', 'c'] }, {}).url,
    ).toBe('http://h/items/a%2Fb,c');
  });

  it('serializes query values per style: form (exploded or not), space/pipe delimited and deepObject', () => {
    const q = (
      style: 'form' | 'spaceDelimited' | 'pipeDelimited' | 'deepObject',
      explode: boolean | undefined,
      value: unknown,
    ) =>
      url(
        [{ arg: 'v', name: 'color', in: 'query', style, ...(explode !== undefined ? { explode } : {}) }],
        { v: value },
        'http://h/x',
      );
    expect(q('form', undefined, ['blue', 'black'])).toBe('http://h/x?color=blue&color=black');
    expect(q('form', false, ['blue', 'black'])).toBe('http://h/x?color=blue,black');
    expect(q('form', true, { R: 100, G: 200 })).toBe('http://h/x?R=100&G=200');
    expect(q('form', false, { R: 100, G: 200 })).toBe('http://h/x?color=R,100,G,200');
    expect(q('spaceDelimited', false, ['blue', 'black'])).toBe('http://h/x?color=blue black');
    expect(q('pipeDelimited', false, ['blue', 'black'])).toBe('http://h/x?color=blue|black');
    expect(q('deepObject', true, { R: 100, G: { x: 1 } })).toBe('http://h/x?color[R]=100&color[G][x]=1');
  });

  it('keeps the descriptor behaviour when no style is set (objects as JSON, arrays repeated)', () => {
    expect(url([{ arg: 'f', name: 'filter', in: 'query' }], { f: { a: 1 } }, 'http://h/x')).toBe(
      'http://h/x?filter={"a":1}',
    );
    expect(url([{ arg: 'f', name: 'tag', in: 'query' }], { f: ['a', 'b'] }, 'http://h/x')).toBe(
      'http://h/x?tag=a&tag=b',
    );
  });

  it('sends a whole-body argument as the body, in JSON, form or multipart encoding', () => {
    const params = [{ arg: 'body', name: 'body', in: 'body' as const, wholeBody: true }];
    const json = buildRequest({ ...base, method: 'POST', url: 'http://h/x', params }, { body: [1, 2] }, {});
    expect(json.body).toBe('[1,2]');
    expect(json.headers['content-type']).toBe('application/json');

    const form = buildRequest(
      { ...base, method: 'POST', url: 'http://h/x', params, bodyEncoding: 'form' },
      { body: { name: 'a b', tags: ['x', 'y'], meta: { k: 1 } } },
      {},
    );
    expect(form.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect([...new URLSearchParams(form.body!)]).toEqual([
      ['name', 'a b'],
      ['tags', 'x'],
      ['tags', 'y'],
      ['meta', '{"k":1}'],
    ]);

    const multi = buildRequest(
      {
        ...base,
        method: 'POST',
        url: 'http://h/x',
        params: [
          { arg: 'file', name: 'file', in: 'body' },
          { arg: 'meta', name: 'meta', in: 'body' },
        ],
        bodyEncoding: 'multipart',
      },
      { file: 'hello', meta: { k: 1 } },
      {},
    );
    const boundary = /boundary=(.+)$/.exec(multi.headers['content-type']!)![1]!;
    expect(multi.body).toBe(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\nhello\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n{"k":1}\r\n--${boundary}--\r\n`,
    );
  });

  it('puts credentials into query parameters and cookies from templates', () => {
    const req = buildRequest(
      {
        ...base,
        url: 'http://h/x',
        params: [{ arg: 's', name: 'sid', in: 'cookie' }],
        authQuery: { api_key: '{key}' },
        authCookies: { token: '{tok}' },
      },
      { s: '1' },
      { key: 'k 1', tok: 't;2' },
    );
    expect(req.url).toBe('http://h/x?api_key=k%201');
    expect(req.headers.cookie).toBe('sid=1; token=t%3B2');
  });

  it('fills the templates of one plan, compiled once, with each call’s own credentials', () => {
    const templated: HttpOperationPlan = {
      ...base,
      url: 'http://h/x',
      params: [],
      authHeaders: { 'X-Both': '{a}{b}', 'X-Kept': 'x{missing}y{}z{9no}', 'X-Plain': 'fixed', 'X-Edge': '{a}' },
      authQuery: { q: 'pre-{a}-post' },
    };
    for (const [a, b] of [
      ['1', '2'],
      ['$&', '$1'], // what String.replace would read as patterns are plain text here
    ] as const) {
      const req = buildRequest(templated, {}, { a, b });
      expect(req.headers).toMatchObject({
        'x-both': `${a}${b}`,
        'x-kept': 'x{missing}y{}z{9no}',
        'x-plain': 'fixed',
        'x-edge': a,
      });
      expect(req.url).toBe(`http://h/x?q=${encodeURIComponent(`pre-${a}-post`)}`);
    }
    // No query parameter and no credential in the query: the URL as the template gives it.
    expect(buildRequest({ ...templated, authQuery: undefined }, {}, { a: '1' }).url).toBe('http://h/x');
  });
});

describe('toToolResult', () => {
  const limits = { timeoutMs: 1000, maxResponseBytes: 100 };
  const enc = new TextEncoder();
  it('returns JSON objects as text and structuredContent', () => {
    const r = toToolResult(
      { kind: 'response', status: 200, contentType: 'application/json', body: enc.encode('{"a":1}') },
      limits,
    );
    expect(r).toEqual({ content: [{ type: 'text', text: '{"a":1}' }], structuredContent: { a: 1 } });
  });

  it('returns JSON arrays as text only', () => {
    const r = toToolResult(
      { kind: 'response', status: 200, contentType: 'application/json', body: enc.encode('[1]') },
      limits,
    );
    expect(r).toEqual({ content: [{ type: 'text', text: '[1]' }] });
  });

  it('reports non-2xx answers, timeouts, oversize bodies and unreachable upstreams as tool errors', () => {
    expect(
      toToolResult(
        { kind: 'response', status: 404, contentType: 'application/json', body: enc.encode('{"error":"nope"}') },
        limits,
      ),
    ).toEqual({
      content: [{ type: 'text', text: 'The upstream API answered HTTP 404. Body: {"error":"nope"}' }],
      isError: true,
    });
    expect(toToolResult({ kind: 'timeout' }, limits).isError).toBe(true);
    expect(toToolResult({ kind: 'too_large' }, limits).content[0]).toEqual({
      type: 'text',
      text: 'The upstream response exceeded the 100-byte limit and was discarded.',
    });
    expect(toToolResult({ kind: 'unreachable', code: 'ECONNREFUSED' }, limits).content[0]).toEqual({
      type: 'text',
      text: 'The upstream API could not be reached (ECONNREFUSED).',
    });
  });

  it('returns structuredContent for tools with an output schema, wrapped when the schema wraps', () => {
    const ok = (body: string) => ({
      kind: 'response' as const,
      status: 200,
      contentType: 'application/json',
      body: enc.encode(body),
    });
    expect(toToolResult(ok('[1,2]'), limits, { wrap: 'result' }).structuredContent).toEqual({ result: [1, 2] });
    expect(toToolResult(ok('{"a":1}'), limits, {}).structuredContent).toEqual({ a: 1 });
    // A promised object that is not one is a tool error, never content that breaks the schema.
    const bad = toToolResult(
      { kind: 'response', status: 200, contentType: 'text/plain', body: enc.encode('plain') },
      limits,
      {},
    );
    expect(bad.isError).toBe(true);
    expect(bad.structuredContent).toBeUndefined();
    expect(String(bad.content[0]!.text)).toContain('not the JSON object its API description promises');
  });
});

describe('readBody', () => {
  /** A real HTTP server on 127.0.0.1 that writes `parts` (chunked: no content-length), or drops the socket after them. */
  async function serve(parts: string[], drop = false) {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (const p of parts.slice(0, -1)) res.write(p);
      // Dropped once the last part reached the socket (headers and all): a body cut short.
      if (drop) res.write(parts.at(-1), () => res.socket?.destroy());
      else res.end(parts.at(-1));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const close = () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    };
    return { url: `http://127.0.0.1:${port}/`, close };
  }

  // A dispatcher of the test's own, closed at its end: no kept-alive socket or timer outlives the file.
  const agent = new Agent();
  const request = (url: string) => undiciRequest(url, { dispatcher: agent });
  afterAll(() => agent.close());

  it('reads a body whole, gives up past the limit, and rejects a body cut short or destroyed before its end', async () => {
    const parts = ['{"a":', '"x".repeat', '(1)}'];
    const upstream = await serve(parts);
    try {
      const whole = await request(upstream.url);
      expect((await readBody(whole.body, 1024))?.toString()).toBe(parts.join(''));
      const big = await request(upstream.url);
      await expect(readBody(big.body, 10)).resolves.toBeUndefined();
      expect(big.body.destroyed).toBe(true);
      const early = await request(upstream.url);
      early.body.destroy();
      await expect(readBody(early.body, 1024)).rejects.toBeDefined();
    } finally {
      await upstream.close();
    }
    const cut = await serve(['{"a":1'], true);
    try {
      const res = await request(cut.url);
      await expect(readBody(res.body, 1024)).rejects.toBeDefined();
    } finally {
      await cut.close();
    }
  });
});
