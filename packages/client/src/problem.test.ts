import { describe, expect, it } from '@jest/globals';
import { readProblem } from './problem.ts';

describe('readProblem', () => {
  it('reads a problem+json body: detail, code and every error', () => {
    expect(
      readProblem(
        {
          title: 'Request rejected',
          detail: 'the descriptor is invalid',
          code: 'document.invalid',
          errors: [{ path: '/a', message: 'b' }],
        },
        'fallback',
      ),
    ).toEqual({
      detail: 'the descriptor is invalid',
      code: 'document.invalid',
      issues: [{ path: '/a', message: 'b' }],
    });
  });

  it("reads a deployment's { message, errors }, and any other shape without failing", () => {
    expect(readProblem({ message: 'Invalid definition file', errors: [{ path: '/x' }, 'odd'] }, 'f')).toEqual({
      detail: 'Invalid definition file',
      code: undefined,
      issues: [
        { path: '/x', message: '{"path":"/x"}' },
        { path: '', message: '"odd"' },
      ],
    });
    for (const body of [undefined, null, 'text', 42, { detail: '' }])
      expect(readProblem(body, 'GET /x answered HTTP 502')).toEqual({
        detail: 'GET /x answered HTTP 502',
        code: undefined,
        issues: [],
      });
  });
});
