import { describe, expect, it } from '@jest/globals';
import type { LoadedCatalog } from '../state/catalogs.ts';
import { checkParamHeaders, decodeParamHeader } from './param-headers.ts';

const loaded = {
  list: [
    { name: 'plain', inputSchema: { type: 'object', properties: { region: { type: 'string' } } } },
    {
      name: 'routed',
      inputSchema: {
        type: 'object',
        properties: {
          region: { type: 'string', 'x-mcp-header': 'Region' },
          count: { type: 'integer', 'x-mcp-header': 'Count' },
          target: { type: 'object', properties: { id: { type: 'string', 'x-mcp-header': 'Target-Id' } } },
        },
      },
    },
  ],
} as unknown as LoadedCatalog;
const check = (tool: string, args: unknown, headers: Record<string, string>) =>
  checkParamHeaders(
    loaded,
    tool,
    args,
    (name) => Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1],
  );

describe('Mcp-Param-* headers (SEP-2243)', () => {
  it('decodes the Base64 sentinel and takes anything else literally', () => {
    expect(decodeParamHeader('=?base64?SGVsbG8=?=')).toBe('Hello');
    expect(decodeParamHeader('=?base64?SGVsbG8?=')).toBeUndefined(); // padding missing
    expect(decodeParamHeader('=?base64?SGVs!!!bG8=?=')).toBeUndefined();
    expect(decodeParamHeader('=?base64?SGVsbG8=')).toBe('=?base64?SGVsbG8='); // no suffix: literal
    expect(decodeParamHeader('SGVsbG8=')).toBe('SGVsbG8=');
  });

  it('accepts agreeing headers and ignores tools without declarations', () => {
    expect(check('plain', { region: 'eu' }, {})).toBeUndefined();
    expect(
      check(
        'routed',
        { region: 'eu', count: 3, target: { id: 'x' } },
        { 'mcp-param-region': 'eu', 'Mcp-Param-Count': '3.0', 'Mcp-Param-Target-Id': '=?base64?eA==?=' },
      ),
    ).toBeUndefined();
    expect(check('routed', {}, { 'Mcp-Param-Region': 'anything' })).toBeUndefined(); // no body value: header not expected
  });

  it('rejects a missing, malformed or disagreeing header', () => {
    expect(check('routed', { region: 'eu' }, {})?.header).toBe('Mcp-Param-Region');
    expect(check('routed', { region: 'Hello' }, { 'Mcp-Param-Region': '=?base64?SGVsbG8?=' })?.message).toMatch(
      /invalid Base64/,
    );
    expect(check('routed', { region: 'eu' }, { 'Mcp-Param-Region': 'us' })?.message).toMatch(/decodes to "us"/);
    expect(check('routed', { target: { id: 'x' } }, { 'Mcp-Param-Target-Id': 'y' })?.header).toBe(
      'Mcp-Param-Target-Id',
    );
  });
});
