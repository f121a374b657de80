import { describe, expect, it } from '@jest/globals';
import { reported } from './apply.ts';
import type { Change } from './kind.ts';

const change = (kind: string, live: Record<string, unknown>, desired: Record<string, unknown>): Change => ({
  kind,
  name: 'x',
  file: `${kind}/x.yaml`,
  action: 'update',
  fields: Object.keys(desired),
  live: { kind, name: 'x', id: 'id-x', spec: { name: 'x', ...live } },
  desired: { kind, name: 'x', file: `${kind}/x.yaml`, spec: { name: 'x', ...desired } },
});

// Plan marks what loosens with the same functions as four eyes on loosening (ADR 0079), per kind of file.
describe('plan’s loosening marks', () => {
  it('an external server’s autoAccept turned on loosens; turned off does not', () => {
    expect(reported(change('external_mcp_server', { autoAccept: false }, { autoAccept: true }))).toMatchObject({
      loosens: true,
      loosenedFields: ['autoAccept'],
    });
    expect(
      reported(change('external_mcp_server', { autoAccept: true }, { autoAccept: false })).loosens,
    ).toBeUndefined();
  });

  it('a quota’s shorter window and a guardrail’s weaker action loosen', () => {
    const q = { limit: 5, enforce: true, counts: 'calls', window: 'day' };
    expect(reported(change('quota', q, { ...q, window: 'minute' })).loosenedFields).toEqual(['window']);
    const g = { enforce: true, action: 'block', detectors: [{ kind: 'secrets' }], on: ['results'] };
    expect(reported(change('guardrail', g, { ...g, action: 'flag' })).loosenedFields).toEqual(['action']);
  });
});
