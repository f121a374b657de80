import { describe, expect, it } from '@jest/globals';
import { portableRule } from '@toolplane/access';
import type { AuditEventInput } from '@toolplane/contracts';
import { z } from 'zod';
import type { Caller } from '../identity/authenticate.ts';
import { portableSubscribeCheck, type LoadedEventType } from './event-types.ts';

/** A rule of this test's own: a subscription to a blocked repository's pushes is refused (or logged), for key-1. */
const blockedRepository = portableRule<{ repository: string; mode: 'enforce' | 'log_only' }, { by: string }>({
  name: 'blocked-repository',
  settings: z.object({ repository: z.string(), mode: z.enum(['enforce', 'log_only']) }),
  appliesTo: (tool) => tool.name === 'github.push',
  facet: (caller) => ({ by: caller.keyId ?? 'nobody' }),
  check({ args, settings, facet }) {
    if (args.repository !== settings.repository || facet.by !== 'key-1') return undefined;
    const refusal = { code: 'blocked-repository.blocked', message: `${settings.repository} is blocked` };
    return settings.mode === 'enforce' ? { refuse: refusal } : { wouldRefuse: refusal };
  },
  loosened: () => [],
});
const check = portableSubscribeCheck(blockedRepository);

const type = {
  entry: {
    event: { name: 'github.push', inputSchema: { type: 'object' }, delivery: ['poll'] },
    source: { connector: 'gh', instance: 'gh', instanceId: 'inst-1' },
    match: { provider: 'github', types: ['push'] },
  },
} as unknown as LoadedEventType;

/** key-1's subscription to `repository` on a server with these `ruleSettings`: the error, and the audit events. */
function subscribe(ruleSettings: unknown, repository: string, name = 'github.push') {
  const caller = {
    principal: { keyId: 'key-1' },
    keyName: 'ci',
    loaded: { catalog: { workspaceId: 'ws-1', serverId: 'srv-1', name: 'gh', ruleSettings } },
  } as unknown as Caller;
  const events: AuditEventInput[] = [];
  const error = check.run(
    caller,
    type,
    { name, arguments: { repository } },
    { sink: { add: (e) => void events.push(e) }, requestId: 7 },
  );
  return { error, events: events.map((e) => [e.action, e.actor.id, e.details]) };
}

describe('a portable rule on the subscribe path, through its adapter', () => {
  const enforced = { 'blocked-repository': { repository: 'acme/secret', mode: 'enforce' } };

  it('is named as the rule; a server that does not set it, or an event type it does not apply to, is not judged', () => {
    expect(check.name).toBe('blocked-repository');
    expect(subscribe(undefined, 'acme/secret')).toEqual({ error: undefined, events: [] });
    expect(subscribe(enforced, 'acme/secret', 'github.issue')).toEqual({ error: undefined, events: [] });
  });

  it('refuses with Forbidden and the rule’s message, recorded as a refused call is; others are made', () => {
    const refused = subscribe(enforced, 'acme/secret');
    expect(refused.error).toMatchObject({ code: -32024, message: expect.stringContaining('acme/secret is blocked') });
    expect(refused.events).toEqual([
      [
        'tool.call_refused',
        'key-1',
        {
          refusedBy: 'blocked-repository',
          code: 'blocked-repository.blocked',
          server: 'gh',
          tool: 'github.push',
          invocationId: '7',
        },
      ],
    ]);
    expect(subscribe(enforced, 'acme/open')).toEqual({ error: undefined, events: [] });
  });

  it('a log-only would-be refusal is recorded and the subscription made; unreadable settings refuse', () => {
    const logged = subscribe({ 'blocked-repository': { repository: 'acme/secret', mode: 'log_only' } }, 'acme/secret');
    expect(logged.error).toBeUndefined();
    expect(logged.events).toEqual([
      [
        'rule.would_refuse',
        'key-1',
        expect.objectContaining({ rule: 'blocked-repository', code: 'blocked-repository.blocked' }),
      ],
    ]);
    const unreadable = subscribe({ 'blocked-repository': { mode: 'sometimes' } }, 'acme/open');
    expect(unreadable.error).toMatchObject({ code: -32024 });
    expect(unreadable.events[0]).toEqual([
      'tool.call_refused',
      'key-1',
      expect.objectContaining({ code: 'blocked-repository.unavailable' }),
    ]);
  });
});
