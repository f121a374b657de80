import { describe, expect, it } from '@jest/globals';
import { compileWorkflowDocument } from './document.ts';
import { sanitiseToolName } from './tools.ts';

describe('workflow tools', () => {
  it('sanitises ids to [A-Za-z0-9_-] and 64 characters', () => {
    expect(sanitiseToolName('get weather/now.v2')).toBe('get_weather_now_v2');
    expect(sanitiseToolName('x'.repeat(80))).toHaveLength(64);
    expect(sanitiseToolName('OIDC-PAR-AuthzCode')).toBe('OIDC-PAR-AuthzCode');
  });

  it('keeps names unique when sanitising makes two collide, and describes each tool', () => {
    const step = { id: 's', request: { method: 'GET', url: 'https://api.example/' } };
    const { tools } = compileWorkflowDocument({
      flower: '0.1',
      id: 'doc',
      title: 'Doc',
      flows: [
        { id: 'a.b', description: 'first', steps: [step] },
        { id: 'a b', steps: [step], outputs: { x: '$steps.s.outputs.x' } },
      ],
    });
    expect(tools.map((t) => [t.name, t.workflowId, t.description])).toEqual([
      ['a_b', 'a.b', 'first'],
      ['a_b_2', 'a b', 'Doc: a b'],
    ]);
    expect(tools[1]!.outputSchema).toEqual({ type: 'object', properties: { x: {} }, additionalProperties: false });
    expect(tools[0]!.inputSchema).toEqual({ type: 'object', properties: {} });
  });
});
