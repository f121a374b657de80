import { describe, expect, it } from '@jest/globals';
import type { ServerEvent } from '@modelcontextprotocol/server';
import { ServerScopedEventBus } from './listen-bus.ts';

describe('ServerScopedEventBus (2026-07-28 listen streams per MCP server)', () => {
  it("delivers a server's events only to streams opened in its scope, also across awaits; unsubscribe stops them", async () => {
    const bus = new ServerScopedEventBus();
    const got: string[] = [];
    const unsubA = await bus.scope('a', async () => {
      await new Promise((r) => setTimeout(r, 1));
      return bus.subscribe((e: ServerEvent) => void got.push(`a:${e.kind}`));
    });
    bus.scope('b', () => bus.subscribe((e: ServerEvent) => void got.push(`b:${e.kind}`)));
    bus.subscribe(() => void got.push('unscoped')); // no server: never called
    expect(bus.publishTo('a', { kind: 'tools_list_changed' })).toBe(1);
    expect(got).toEqual(['a:tools_list_changed']);
    unsubA();
    expect(bus.publishTo('a', { kind: 'tools_list_changed' })).toBe(0);
    expect(bus.count('a')).toBe(0);
    bus.publish({ kind: 'tools_list_changed' });
    expect(got).toEqual(['a:tools_list_changed', 'b:tools_list_changed']);
  });

  it('a throwing listener does not stop the others', () => {
    const bus = new ServerScopedEventBus();
    let reached = false;
    bus.scope('a', () => {
      bus.subscribe(() => {
        throw new Error('broken stream');
      });
      bus.subscribe(() => void (reached = true));
    });
    bus.publishTo('a', { kind: 'tools_list_changed' });
    expect(reached).toBe(true);
  });
});
