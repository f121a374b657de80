import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { unwrap } from '@toolplane/client';
import { postMcp } from '../../helpers/mcp.ts';
import { waitFor } from '../../helpers/wait.ts';
import { give, startEventsStack, subscriptionFor, type EventsStack } from './fixture.ts';

// The conformance walk of the MCP Events extension (SEP-3415) against Toolplane's edge: each case is a MUST of the
// specification as docs/events.md numbers it (E1-E19), on the wire as a client sends it (raw JSON-RPC over Streamable
// HTTP, 2025-11-25). The worker's MUSTs (W1-W7: verification handshake, signatures, retries) are the inbound half's.

let s: EventsStack;
let publicServer: { id: string; url: string };
let nextId = 1;

beforeAll(async () => {
  s = await startEventsStack('events-conformance', { EVENTS_HEARTBEAT_MS: '300' });
  const created = await unwrap(
    s.api.POST('/mcp_manager', {
      body: {
        name: 'public-repos',
        mode: 'NORMAL',
        connectorInstanceId: s.instanceId,
        isPublic: true,
        config: { events: ['github.push'] },
      },
    }),
  );
  publicServer = { id: created.id, url: created.url };
}, 180_000);

afterAll(async () => {
  s?.redis.disconnect();
  await s?.stack.stop();
});

type Answer = {
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: Record<string, unknown> };
};

async function rpc(method: string, params: unknown, opts: { url?: string; key?: string | null } = {}): Promise<Answer> {
  const key = opts.key === undefined ? s.stack.bootstrapKey : opts.key;
  const res = await postMcp(
    opts.url ?? s.server.url,
    { jsonrpc: '2.0', id: nextId++, method, params },
    { 'mcp-protocol-version': '2025-11-25', ...(key ? { 'x-api-key': key } : {}) },
  );
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
}

const secret = (bytes = 32) => `whsec_${Buffer.alloc(bytes, 9).toString('base64')}`;
const hook = (path: string) => `http://127.0.0.1:9/${path}`;

/** The subscription a request just made: the one whose arguments name this repository. */
async function subscriptionNamed(repository: string): Promise<{ id: string; raw: Record<string, unknown> }> {
  const { id, stored } = await subscriptionFor(s.redis, s.instanceId, repository);
  return { id, raw: stored };
}

/** An `events/stream` held open with raw fetch: its SSE frames as they come, and how to end it. */
function openStream(params: Record<string, unknown>, on: { url?: string; key?: string } = {}) {
  const abort = new AbortController();
  const frames: { method?: string; params?: Record<string, unknown> }[] = [];
  const done = (async () => {
    const res = await fetch(on.url ?? s.server.url, {
      method: 'POST',
      signal: abort.signal,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        'x-api-key': on.key ?? s.stack.bootstrapKey,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: `stream-${nextId++}`, method: 'events/stream', params }),
    });
    const decoder = new TextDecoder();
    let buffered = '';
    const reader = res.body!.getReader();
    for (;;) {
      const { done: ended, value } = await reader.read();
      if (ended) break;
      buffered += decoder.decode(value, { stream: true });
      let at: number;
      while ((at = buffered.indexOf('\n\n')) >= 0) {
        const frame = buffered.slice(0, at);
        buffered = buffered.slice(at + 2);
        const data = frame
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('');
        if (data) frames.push(JSON.parse(data) as (typeof frames)[number]);
      }
    }
  })().catch(() => undefined);
  return { frames, done, close: async () => (abort.abort(), await done) };
}

const blockedStreams = async () =>
  ((await s.redis.client('LIST')) as string)
    .split('\n')
    .filter((l) => l.includes('name=edge-events-stream') && l.includes('cmd=xread')).length;

describe('MCP Events conformance (docs/events.md)', () => {
  it('E1: a server without event types declares nothing and answers events/* with Method not found', async () => {
    const init = await rpc(
      'initialize',
      { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
      { url: s.plain.url },
    );
    expect(JSON.stringify(init.result?.capabilities)).not.toContain('io.modelcontextprotocol/events');
    expect((await rpc('events/list', {}, { url: s.plain.url })).error?.code).toBe(-32601);
    const declared = await rpc('initialize', {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'c', version: '1' },
    });
    expect(declared.result?.capabilities).toMatchObject({
      extensions: { 'io.modelcontextprotocol/events': { listChanged: false } },
    });
  });

  it('E2: every result carries resultType "complete"', async () => {
    expect((await rpc('events/list', {})).result?.resultType).toBe('complete');
    expect((await rpc('events/poll', { name: 'github.push', cursor: null })).result?.resultType).toBe('complete');
  });

  it('E3, E4: a null or absent cursor starts from now: no events and a cursor', async () => {
    const args = { repository: 'conf/e3' };
    const nullCursor = (await rpc('events/poll', { name: 'github.push', arguments: args, cursor: null })).result!;
    expect(nullCursor).toMatchObject({ events: [], truncated: false, hasMore: false });
    expect(typeof nullCursor.cursor).toBe('string');
    const { id } = await subscriptionNamed('conf/e3');
    await give(
      s.redis,
      { instanceId: s.instanceId, subscriptionId: id },
      { eventId: 'e3', name: 'github.push', data: {} },
    );
    const absent = (await rpc('events/poll', { name: 'github.push', arguments: args })).result!;
    expect(absent.events).toEqual([]); // "now" is after what was given
    expect(absent.cursor).not.toBe(nullCursor.cursor);
  });

  it('E5: maxEvents caps a batch: an intermediate cursor and hasMore', async () => {
    const args = { repository: 'conf/e5' };
    const start = (await rpc('events/poll', { name: 'github.push', arguments: args })).result!;
    const { id } = await subscriptionNamed('conf/e5');
    for (const e of ['a', 'b', 'c'])
      await give(
        s.redis,
        { instanceId: s.instanceId, subscriptionId: id },
        { eventId: e, name: 'github.push', data: {} },
      );
    const first = (
      await rpc('events/poll', { name: 'github.push', arguments: args, cursor: start.cursor, maxEvents: 2 })
    ).result!;
    expect(first).toMatchObject({ hasMore: true, events: [{ eventId: 'a' }, { eventId: 'b' }] });
    const second = (await rpc('events/poll', { name: 'github.push', arguments: args, cursor: first.cursor })).result!;
    expect(second).toMatchObject({ hasMore: false, events: [{ eventId: 'c' }] });
  });

  it('E6: a replay ceiling (trim, maxAgeMs, a lapsed subscription) is signalled with truncated: true', async () => {
    const args = { repository: 'conf/e6' };
    const start = (await rpc('events/poll', { name: 'github.push', arguments: args })).result!;
    const { id } = await subscriptionNamed('conf/e6');
    const where = { instanceId: s.instanceId, subscriptionId: id };
    for (const e of ['old-1', 'old-2', 'kept'])
      await give(s.redis, where, { eventId: e, name: 'github.push', data: {} });
    await s.redis.xtrim(`{ev:${s.instanceId}}:sub:${id}`, 'MAXLEN', 1);
    const trimmed = (await rpc('events/poll', { name: 'github.push', arguments: args, cursor: start.cursor })).result!;
    expect(trimmed).toMatchObject({ truncated: true, events: [{ eventId: 'kept' }] });
    const late = await give(s.redis, where, { eventId: 'late', name: 'github.push', data: {} });
    const floored = (
      await rpc('events/poll', { name: 'github.push', arguments: args, cursor: trimmed.cursor, maxAgeMs: 0 })
    ).result!;
    expect(floored.truncated).toBe(true); // "late" is older than now − 0
    expect(floored.events).toEqual([]);
    await s.redis.hdel(`{ev:${s.instanceId}}:subs`, id); // the subscription lapsed and was swept
    const lapsed = (await rpc('events/poll', { name: 'github.push', arguments: args, cursor: late })).result!;
    expect(lapsed).toMatchObject({ truncated: true, events: [] });
  });

  it('E7: refusals are JSON-RPC errors with the specification’s codes', async () => {
    const unknown = await rpc('events/poll', { name: 'nope', cursor: null });
    expect(unknown.error).toMatchObject({ code: -32023, data: { kind: 'event' } });
    const mode = await rpc('events/subscribe', {
      name: 'github.push',
      delivery: { mode: 'push', url: hook('e7'), secret: secret() },
    });
    expect(mode.error).toMatchObject({ code: -32026, data: { feature: 'deliveryMode', value: 'push' } });
    const badCursor = await rpc('events/poll', { name: 'github.push', cursor: 'not-ours' });
    expect(badCursor.error?.code).toBe(-32602);
  });

  it('E8: the principal must be granted the event type with these arguments', async () => {
    const refused = await rpc('events/poll', { name: 'github.issue_opened', cursor: null }, { key: s.limitedKey });
    expect(refused.error?.code).toBe(-32024);
    const granted = await rpc('events/poll', { name: 'github.push', cursor: null }, { key: s.limitedKey });
    expect(granted.result?.events).toEqual([]);
    const badArgs = await rpc('events/poll', { name: 'github.push', arguments: { repository: 1 } });
    expect(badArgs.error?.code).toBe(-32602);
  });

  it('E8: a condition of the grant sees the subscription’s arguments (checked at save against the inputSchema)', async () => {
    const key = await unwrap(s.api.POST('/api_keys', { body: { name: 'conditional', scopes: ['runtime'] } }));
    const typo = await s.api.POST('/access_policies', {
      body: {
        name: 'typo',
        principals: [{ type: 'api_key', value: key.id }],
        servers: [s.server.id],
        tools: ['github.push'],
        condition: 'args.branch == "main"',
      },
    });
    expect(typo.response.status).toBe(422); // github.push takes no `branch`
    await unwrap(
      s.api.POST('/access_policies', {
        body: {
          name: 'one-repository',
          principals: [{ type: 'api_key', value: key.id }],
          servers: [s.server.id],
          tools: ['github.push'],
          condition: 'args.repository == "acme/allowed"',
        },
      }),
    );
    await waitFor('the policy reaches the edge', async () => {
      const r = await rpc(
        'events/poll',
        { name: 'github.push', arguments: { repository: 'acme/allowed' } },
        { key: key.key },
      );
      return r.result !== undefined;
    });
    const other = await rpc(
      'events/poll',
      { name: 'github.push', arguments: { repository: 'acme/other' } },
      { key: key.key },
    );
    expect(other.error?.code).toBe(-32024);
    expect(other.error?.message).toContain('one-repository');
  });

  it('E9: subscribe and unsubscribe need an authenticated principal (an anonymous caller may still poll)', async () => {
    const params = { name: 'github.push', delivery: { mode: 'webhook', url: hook('e9'), secret: secret() } };
    const anonymous = await rpc('events/subscribe', params, { url: publicServer.url, key: null });
    expect(anonymous.error?.code).toBe(-32024);
    const unsubscribe = await rpc(
      'events/unsubscribe',
      { name: 'github.push', delivery: { url: hook('e9') } },
      { url: publicServer.url, key: null },
    );
    expect(unsubscribe.error?.code).toBe(-32024);
    const poll = await rpc('events/poll', { name: 'github.push', cursor: null }, { url: publicServer.url, key: null });
    expect(poll.result?.events).toEqual([]);
  });

  it('E10: a secret that is not whsec_ + base64 of 24 to 64 bytes is InvalidParams', async () => {
    for (const bad of ['plain-secret', secret(16), secret(65), 'whsec_!!!!'])
      expect(
        (
          await rpc('events/subscribe', {
            name: 'github.push',
            delivery: { mode: 'webhook', url: hook('e10'), secret: bad },
          })
        ).error?.code,
      ).toBe(-32602);
  });

  it('E11, E12: a callback must be https, without credentials, and not a private address', async () => {
    for (const url of [
      'http://example.com/hook',
      'https://user:pw@example.com/hook',
      'https://example.com/hook#frag',
      'https://10.0.0.1/hook',
      'https://169.254.169.254/latest',
      'ftp://example.com/hook',
      // What the worker's outbound guard refuses at delivery is refused here too: an IPv4-compatible
      // loopback, NAT64 of a private address, the benchmarking range, localhost with its final dot.
      'https://[::7f00:1]/hook',
      'https://[64:ff9b::a00:5]/hook',
      'https://198.18.0.1/hook',
      'https://localhost./hook',
      'https://[::ffff:127.0.0.1]/hook',
    ])
      expect(
        (await rpc('events/subscribe', { name: 'github.push', delivery: { mode: 'webhook', url, secret: secret() } }))
          .error?.code,
      ).toBe(-32602);
    const https = await rpc('events/subscribe', {
      name: 'github.push',
      arguments: { repository: 'conf/e11' },
      delivery: { mode: 'webhook', url: 'https://hooks.example.com/mcp', secret: secret() },
    });
    expect(https.result?.id).toMatch(/^sub_/);
  });

  it('E13: the TTL granted is finite (never null), within the floor and the maximum', async () => {
    const ask = async (ttlMs: number | null, repository: string) => {
      const before = Date.now();
      const r = (
        await rpc('events/subscribe', {
          name: 'github.push',
          arguments: { repository },
          delivery: { mode: 'webhook', url: hook('e13'), secret: secret() },
          ttlMs,
        })
      ).result!;
      expect(r.refreshBefore).not.toBeNull();
      return Date.parse(r.refreshBefore as string) - before;
    };
    expect(await ask(null, 'conf/e13a')).toBeLessThanOrEqual(86_400_000 + 1000);
    expect(await ask(1, 'conf/e13b')).toBeGreaterThanOrEqual(59_000);
    expect(await ask(90_000, 'conf/e13c')).toBeLessThanOrEqual(90_000 + 1000);
  });

  it('E14: subscribing again with the same key refreshes it: the same id, the TTL granted again, the secret replaced', async () => {
    const params = (key: string) => ({
      name: 'github.push',
      arguments: { repository: 'conf/e14' },
      delivery: { mode: 'webhook', url: hook('e14'), secret: key },
      ttlMs: 60_000,
    });
    const first = (await rpc('events/subscribe', params(secret(32)))).result!;
    const sealed = (await subscriptionNamed('conf/e14')).raw.callback as { secretSealed: string };
    const again = (await rpc('events/subscribe', { ...params(secret(40)), ttlMs: 120_000 })).result!;
    expect(again.id).toBe(first.id);
    expect(Date.parse(again.refreshBefore as string)).toBeGreaterThan(Date.parse(first.refreshBefore as string));
    const resealed = (await subscriptionNamed('conf/e14')).raw.callback as { secretSealed: string };
    expect(resealed.secretSealed).not.toBe(sealed.secretSealed);
    expect(resealed.secretSealed.split('.')).toHaveLength(5); // a compact JWE, never the secret
  });

  it('E15: unsubscribe resolves the same key and answers an empty result; a second time NotFound', async () => {
    const delivery = { mode: 'webhook', url: hook('e15'), secret: secret() };
    const made = (
      await rpc('events/subscribe', { name: 'github.push', arguments: { repository: 'conf/e15' }, delivery })
    ).result!;
    const gone = await rpc('events/unsubscribe', {
      name: 'github.push',
      arguments: { repository: 'conf/e15' },
      delivery: { url: hook('e15') },
    });
    expect(gone.result).toEqual({ resultType: 'complete' });
    expect(await s.redis.hexists(`{ev:${s.instanceId}}:subs`, made.id as string)).toBe(0);
    const again = await rpc('events/unsubscribe', {
      name: 'github.push',
      arguments: { repository: 'conf/e15' },
      delivery: { url: hook('e15') },
    });
    expect(again.error).toMatchObject({ code: -32023, data: { kind: 'subscription' } });
  });

  it('E16, E17, E18: streams send active first, heartbeats with the cursor, run side by side, and end on cancel', async () => {
    const one = openStream({ name: 'github.push', arguments: { repository: 'conf/e16a' }, cursor: null });
    const two = openStream({ name: 'github.push', arguments: { repository: 'conf/e16b' }, cursor: null });
    await waitFor('both streams active with a heartbeat', () =>
      [one, two].every(
        (x) =>
          x.frames[0]?.method === 'notifications/events/active' &&
          x.frames.some((f) => f.method?.endsWith('heartbeat')),
      ),
    );
    const beat = one.frames.find((f) => f.method === 'notifications/events/heartbeat')!;
    expect(beat.params).toMatchObject({ cursor: expect.any(String) });
    expect(beat.params?._meta).toHaveProperty(['io.modelcontextprotocol/subscriptionId']);
    expect(await blockedStreams()).toBeGreaterThanOrEqual(1);
    await one.close();
    await two.close();
    await waitFor('every stream’s connection released', async () => (await blockedStreams()) === 0);
  });

  it('E19: a new catalog version terminates nothing: a subscription polls on from its cursor', async () => {
    const args = { repository: 'conf/e19' };
    const start = (await rpc('events/poll', { name: 'github.push', arguments: args })).result!;
    await unwrap(
      s.api.PATCH('/mcp_manager/{id}', { params: { path: { id: s.server.id } }, body: { description: 'changed' } }),
    );
    await waitFor('the new version served', async () => {
      const init = await rpc('initialize', {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'c', version: '1' },
      });
      return (init.result?.instructions as string | undefined) === 'changed';
    });
    const after = (await rpc('events/poll', { name: 'github.push', arguments: args, cursor: start.cursor })).result!;
    expect(after).toMatchObject({ truncated: false, events: [] });
  });

  it('E19: an open stream whose event type was removed, or whose access was revoked, gets terminated, then ends', async () => {
    const created = await unwrap(
      s.api.POST('/mcp_manager', {
        body: {
          name: 'terminating',
          mode: 'NORMAL',
          connectorInstanceId: s.instanceId,
          config: { events: ['github.push', 'github.issue_opened'] },
        },
      }),
    );
    const key = await unwrap(s.api.POST('/api_keys', { body: { name: 'streamer', scopes: ['runtime'] } }));
    const policy = await unwrap(
      s.api.POST('/access_policies', {
        body: {
          name: 'streamer',
          principals: [{ type: 'api_key', value: key.id }],
          servers: [created.id],
          tools: ['github.push', 'github.issue_opened'],
        },
      }),
    );
    const on = { url: created.url, key: key.key };
    const removed = openStream({ name: 'github.issue_opened', cursor: null }, on);
    const revoked = openStream({ name: 'github.push', arguments: { repository: 'conf/revoked' }, cursor: null }, on);
    const terminatedOf = (x: typeof removed) => x.frames.find((f) => f.method === 'notifications/events/terminated');
    try {
      await waitFor('both streams active', () =>
        [removed, revoked].every((x) => x.frames[0]?.method === 'notifications/events/active'),
      );
      await unwrap(
        s.api.PATCH('/mcp_manager/{id}', {
          params: { path: { id: created.id } },
          body: { config: { events: ['github.push'] } },
        }),
      );
      await waitFor('the removed type’s stream terminated', () => terminatedOf(removed));
      expect(terminatedOf(removed)!.params).toMatchObject({
        error: { code: -32023, data: { kind: 'event' } },
        _meta: { 'io.modelcontextprotocol/subscriptionId': expect.any(String) },
      });
      await removed.done; // the edge ended the stream: its answer came to an end without the client's abort
      expect(removed.frames.at(-1)).toMatchObject({ result: { resultType: 'complete' } });
      expect(terminatedOf(revoked)).toBeUndefined();
      await unwrap(
        s.api.PATCH('/access_policies/{id}', { params: { path: { id: policy.id } }, body: { tools: ['getRepo'] } }),
      );
      await waitFor('the revoked stream terminated', () => terminatedOf(revoked));
      expect(terminatedOf(revoked)!.params).toMatchObject({ error: { code: -32024 } });
      await revoked.done;
      // A stream of a key revoked meanwhile (a key no policy names: every server of the workspace).
      const doomedKey = await unwrap(s.api.POST('/api_keys', { body: { name: 'doomed', scopes: ['runtime'] } }));
      const doomed = openStream(
        { name: 'github.push', arguments: { repository: 'conf/doomed' }, cursor: null },
        {
          url: created.url,
          key: doomedKey.key,
        },
      );
      try {
        await waitFor(
          'the doomed key’s stream active',
          () => doomed.frames[0]?.method === 'notifications/events/active',
        );
        await unwrap(s.api.DELETE('/api_keys/{id}', { params: { path: { id: doomedKey.id } } }));
        await waitFor('the revoked key’s stream terminated', () => terminatedOf(doomed));
        expect(terminatedOf(doomed)!.params).toMatchObject({ error: { code: -32024 } });
        await doomed.done;
      } finally {
        await doomed.close();
      }
    } finally {
      await removed.close();
      await revoked.close();
    }
  });
});
