import { describe, expect, it } from '@jest/globals';
import type { ApiKeyRecord } from '@toolplane/contracts';
import { OpenStreams, type StreamCredential } from './open-streams.ts';

const record = (over: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
  keyId: 'k1',
  workspaceId: 'w1',
  scopes: ['runtime'],
  revoked: false,
  ...over,
});

/** A registry over a fake of the key store (hash → record, or a throw), recording which streams ended and why. */
function setup(keys: Map<string, ApiKeyRecord | null | Error>) {
  const ended: string[] = [];
  const streams = new OpenStreams(async (hash) => {
    const v = keys.get(hash);
    if (v instanceof Error) throw v;
    return v ?? null;
  });
  const open = (name: string, serverId: string, credential: StreamCredential) =>
    streams.add({ serverId, credential, end: (reason) => ended.push(`${name}: ${reason}`) });
  return { streams, ended, open };
}

/** Lets the check that `add` starts for a key's stream finish. */
const settled = () => new Promise((r) => setImmediate(r));

describe('OpenStreams', () => {
  it("ends a key's streams whose server the key no longer reaches when its change is announced", async () => {
    const keys = new Map<string, ApiKeyRecord | null | Error>([
      ['h1', record()],
      ['h2', record({ keyId: 'k2' })],
    ]);
    const { streams, ended, open } = setup(keys);
    open('a', 's1', { kind: 'key', keyHash: 'h1' });
    open('b', 's2', { kind: 'key', keyHash: 'h1' });
    open('c', 's1', { kind: 'key', keyHash: 'h2' });
    await settled();
    expect(ended).toEqual([]);

    keys.set('h1', record({ serverIds: ['s2'] }));
    await streams.keyChanged('h1');
    expect(ended).toEqual(['a: the API key is limited to other MCP servers']);
    keys.set('h1', record({ scopes: ['management'] }));
    await streams.keyChanged('h1');
    expect(ended.at(-1)).toBe('b: the API key has no "runtime" scope');
    keys.set('h2', null);
    await streams.keyChanged('h2');
    expect(ended.at(-1)).toBe('c: the API key was revoked');
    expect(streams.size).toBe(0);
  });

  it('fails closed: a key that cannot be read ends its streams, and so does losing the announcements', async () => {
    const keys = new Map<string, ApiKeyRecord | null | Error>([['h1', record()]]);
    const { streams, ended, open } = setup(keys);
    open('a', 's1', { kind: 'key', keyHash: 'h1' });
    open('b', 's1', { kind: 'anonymous' });
    open('c', 's1', { kind: 'token' });
    await settled();
    keys.set('h1', new Error('Redis is unreachable'));
    await streams.keyChanged('h1');
    expect(ended).toEqual(['a: the API key could not be checked (Redis unreachable)']);
    expect(streams.endAll('the Redis pub/sub connection was lost')).toBe(2);
    expect(ended.slice(1)).toEqual([
      'b: the Redis pub/sub connection was lost',
      'c: the Redis pub/sub connection was lost',
    ]);
  });

  it('checks a key once more when its stream registers (a change before the registration is not missed)', async () => {
    const { ended, open } = setup(new Map([['h1', null]]));
    open('a', 's1', { kind: 'key', keyHash: 'h1' });
    await settled();
    expect(ended).toEqual(['a: the API key was revoked']);
  });

  it("ends a token's stream at the token's expiry (at once when it is past), and forgets a closed stream", async () => {
    const { streams, ended, open } = setup(new Map());
    open('expired', 's1', { kind: 'token', expiresAt: Date.now() - 1 });
    expect(ended).toEqual(['expired: the access token has expired']);
    const forget = open('later', 's1', { kind: 'token', expiresAt: Date.now() + 3_600_000 });
    expect(streams.size).toBe(1);
    forget(); // the stream closed: its timer is cleared, it is never ended
    expect(streams.size).toBe(0);
    expect(streams.endAll('gone')).toBe(0);
    expect(ended).toEqual(['expired: the access token has expired']);
  });

  it("judges a narrowed token's or a person's stream when it opens and at each announced standing change", async () => {
    const refusals = new Map<string, string | Error>();
    const ended: string[] = [];
    const streams = new OpenStreams(
      () => Promise.resolve(record()),
      () => undefined,
      (principal) => {
        const why = refusals.get(principal.username ?? principal.tokenChain!.join('>'));
        return why instanceof Error ? Promise.reject(why) : Promise.resolve(why);
      },
    );
    const open = (name: string, principal?: Parameters<typeof streams.add>[0]['principal']) =>
      streams.add({
        serverId: 's1',
        credential: { kind: 'key', keyHash: 'h1' },
        principal,
        end: (r) => ended.push(`${name}: ${r}`),
      });
    refusals.set('mallory', 'the person "mallory" it acts for is no longer an active external user');
    open('mallory', { workspaceId: 'w1', username: 'mallory', userId: 'u0' });
    open('alice', { workspaceId: 'w1', username: 'alice', userId: 'u1' });
    open('token', { workspaceId: 'w1', tokenChain: ['t1', 't2'] });
    open('plain');
    await settled();
    expect(ended).toEqual(['mallory: the person "mallory" it acts for is no longer an active external user']);
    refusals.set('t1>t2', 'the narrowed token was revoked');
    refusals.set('alice', new Error('Redis is unreachable'));
    await streams.standingChanged();
    expect(ended.slice(1).sort()).toEqual([
      'alice: its credential could not be checked (Redis unreachable)',
      'token: the narrowed token was revoked',
    ]);
    expect(streams.size).toBe(1); // the plain key's stream: nothing of it changed
  });
});
