import { describe, expect, it } from '@jest/globals';
import { classifyInboundRequest } from '@modelcontextprotocol/server';
import { plainLegacyRequest } from './fast-path.ts';

/** Every combination of these parts: well-formed and broken JSON-RPC, 2025 and 2026-07-28 shapes, headers. */
const jsonrpcs = ['2.0', '1.0', undefined];
const ids = [1, 'a', 0, -3, 1.5, null, undefined, {}, 2 ** 60];
const methods = [
  'tools/call',
  'initialize',
  'tools/list',
  'notifications/cancelled',
  'subscriptions/listen',
  5,
  undefined,
];
const paramsList = [
  undefined,
  {},
  { name: 'search', arguments: { q: 'x' } },
  { _meta: {} },
  { _meta: { progressToken: 1 } },
  { name: 'x', _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } },
  { _meta: { 'io.modelcontextprotocol/protocolVersion': '2025-06-18' } },
  { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
  [],
  'text',
  null,
];
const extras = [{}, { result: {} }, { error: { code: -1, message: 'm' } }, { other: 1 }];
const headers = [
  undefined,
  '2025-06-18',
  '2025-11-25',
  ' 2025-03-26 ',
  '2026-07-28',
  '2026-07-28 ',
  '',
  'garbage',
  '2027-01-01',
];

function* corpus() {
  for (const jsonrpc of jsonrpcs)
    for (const id of ids)
      for (const method of methods)
        for (const params of paramsList)
          for (const extra of extras) {
            const body: Record<string, unknown> = { ...extra };
            if (jsonrpc !== undefined) body.jsonrpc = jsonrpc;
            if (id !== undefined) body.id = id;
            if (method !== undefined) body.method = method;
            if (params !== undefined) body.params = params;
            for (const header of headers) yield { body, header };
          }
}

describe('plainLegacyRequest: the SDK era classification, skipped only where its answer is sure', () => {
  it('never says "legacy" where the SDK would not', () => {
    let shortcut = 0;
    let total = 0;
    for (const { body, header } of corpus()) {
      total++;
      if (!plainLegacyRequest(body, header)) continue;
      shortcut++;
      const sdk = classifyInboundRequest({ httpMethod: 'POST', protocolVersionHeader: header, body });
      if (sdk.kind !== 'legacy') throw new Error(`SDK says ${sdk.kind} for ${JSON.stringify({ body, header })}`);
    }
    expect(total).toBeGreaterThan(50_000);
    // 4 usable ids × 5 string methods × 4 params without _meta × 5 headers that are not modern (or not versions).
    expect(shortcut).toBe(400);
  });

  it('takes the common 2025-era calls, and leaves 2026-07-28 requests to the SDK', () => {
    const call = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'search', arguments: {} } };
    expect(plainLegacyRequest(call, undefined)).toBe(true);
    expect(plainLegacyRequest(call, '2025-11-25')).toBe(true);
    expect(plainLegacyRequest({ jsonrpc: '2.0', id: 'i', method: 'initialize', params: {} }, undefined)).toBe(true);
    expect(plainLegacyRequest(call, '2026-07-28')).toBe(false);
    const modern = {
      ...call,
      params: { ...call.params, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } },
    };
    expect(plainLegacyRequest(modern, undefined)).toBe(false);
  });
});
