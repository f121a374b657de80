import { describe, expect, it } from '@jest/globals';
import { exitCodeForStatus } from './errors.ts';

describe('exitCodeForStatus', () => {
  it('splits HTTP statuses into the classes of docs/cli.md', () => {
    expect([400, 401, 403, 404, 409, 413, 422, 429, 500, 503].map(exitCodeForStatus)).toEqual([
      3, 4, 4, 5, 5, 3, 3, 6, 1, 6,
    ]);
  });
});
