import { describe, expect, it } from '@jest/globals';
import { locateIssues } from './source-map.ts';

describe('locateIssues', () => {
  const yaml = ['metadata:', '  name: x', 'mcp_config:', '  route_mappings:', '    - operation_id: nope', ''].join(
    '\n',
  );

  it('places a JSON pointer at the key it names, and a missing one at its nearest existing ancestor', () => {
    const located = locateIssues('d.yaml', yaml, [
      { path: '/mcp_config/route_mappings/0/operation_id', message: 'unknown' },
      { path: '/mcp_config/server_name', message: 'required' },
      { path: '', message: 'root' },
    ]);
    expect(located.map((i) => i.location)).toEqual(['d.yaml:5:7', 'd.yaml:3:1', 'd.yaml:1:1']);
  });

  it('reads JSON too, with numeric map keys and ~1 escapes', () => {
    const json = JSON.stringify({ paths: { '/a/b': { get: { responses: { '200': { description: 1 } } } } } }, null, 2);
    const [issue] = locateIssues('o.json', json, [
      { path: '/paths/~1a~1b/get/responses/200/description', message: 'm' },
    ]);
    expect(issue!.location).toBe('o.json:7:13');
  });
});
