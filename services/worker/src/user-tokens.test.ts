import { describe, expect, it } from '@jest/globals';
import { InternalError } from '@toolplane/errors';
import { peopleTokensOnly } from './user-tokens.ts';

describe('peopleTokensOnly (the worker writes people’s OAuth tokens and nothing else)', () => {
  const written: string[] = [];
  const store = {
    put: async (name: string, _value: string) => void written.push(`put ${name}`),
    delete: async (name: string) => (written.push(`delete ${name}`), true),
  };
  const writer = peopleTokensOnly(store);

  it('writes and deletes the tokens of a person’s connection', async () => {
    await writer.put('ws/w1/users/u1/oauth/i1', '{}');
    await writer.delete('ws/w1/users/u1/oauth/i1');
    expect(written).toEqual(['put ws/w1/users/u1/oauth/i1', 'delete ws/w1/users/u1/oauth/i1']);
  });

  it.each([
    'ws/w1/connector-instances/i1/client_secret',
    'ws/w1/users/u1/connector-instances/i1/api_key',
    'ws/w1/users/u1/secrets/TOKEN',
    'ws/w1/users/u1/oauth/i1/extra',
    'ws/w1/secrets/TOKEN',
  ])('refuses %s, writing nothing', async (name) => {
    const before = written.length;
    expect(() => writer.put(name, 'x')).toThrow(InternalError);
    expect(() => writer.delete(name)).toThrow(InternalError);
    expect(written.length).toBe(before);
  });
});
