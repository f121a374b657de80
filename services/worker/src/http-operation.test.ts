import { describe, expect, it } from '@jest/globals';
import type { HttpOperationPlan } from '@toolplane/contracts';
import { buildRequest, toToolResult } from './http-operation.ts';

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
    const req = buildRequest(plan, { project: 'A B/C', labels: ['x', 'y'], trace: 't1', session: 's=1', title: 'Hello' }, { api_key: 'k1', token: 't0k' });
    expect(req.method).toBe('POST');
    expect(req.url).toBe('http://127.0.0.1:1/api/v1/projects/A%20B%2FC/issues?label=x&label=y');
    expect(req.headers).toMatchObject({ 'x-trace': 't1', cookie: 'sid=s%3D1', 'x-api-key': 'k1', authorization: 'Bearer t0k', 'content-type': 'application/json' });
    expect(JSON.parse(req.body!)).toEqual({ title: 'Hello', priority: 'medium' });
  });

  it('omits optional arguments that were not given and have no default', () => {
    const req = buildRequest({ ...plan, method: 'GET', params: plan.params.filter((p) => p.in !== 'body') }, { project: 'P' }, { api_key: 'k', token: 't' });
    expect(req.url).toBe('http://127.0.0.1:1/api/v1/projects/P/issues');
    expect(req.body).toBeUndefined();
    expect(req.headers.cookie).toBeUndefined();
  });
});

describe('toToolResult', () => {
  const limits = { timeoutMs: 1000, maxResponseBytes: 100 };
  const enc = new TextEncoder();
  it('returns JSON objects as text and structuredContent', () => {
    const r = toToolResult({ kind: 'response', status: 200, contentType: 'application/json', body: enc.encode('{"a":1}') }, limits);
    expect(r).toEqual({ content: [{ type: 'text', text: '{"a":1}' }], structuredContent: { a: 1 } });
  });

  it('returns JSON arrays as text only', () => {
    const r = toToolResult({ kind: 'response', status: 200, contentType: 'application/json', body: enc.encode('[1]') }, limits);
    expect(r).toEqual({ content: [{ type: 'text', text: '[1]' }] });
  });

  it('reports non-2xx answers, timeouts, oversize bodies and unreachable upstreams as tool errors', () => {
    expect(toToolResult({ kind: 'response', status: 404, contentType: 'application/json', body: enc.encode('{"error":"nope"}') }, limits)).toEqual({
      content: [{ type: 'text', text: 'The upstream API answered HTTP 404. Body: {"error":"nope"}' }],
      isError: true,
    });
    expect(toToolResult({ kind: 'timeout' }, limits).isError).toBe(true);
    expect(toToolResult({ kind: 'too_large' }, limits).content[0]).toEqual({ type: 'text', text: 'The upstream response exceeded the 100-byte limit and was discarded.' });
    expect(toToolResult({ kind: 'unreachable', code: 'ECONNREFUSED' }, limits).content[0]).toEqual({ type: 'text', text: 'The upstream API could not be reached (ECONNREFUSED).' });
  });
});
