import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { createLogger } from './index.ts';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('adds the mixin fields (trace ids) to every line and still redacts', () => {
    const out = capture();
    let active: Record<string, string> = {};
    const log = createLogger({ service: 'test', destination: out.stream, mixin: () => ({ ...active }) });
    log.info({ headers: { authorization: 'Bearer secret-value' }, invocationId: 'i1' }, 'outside a span');
    active = { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' };
    log.child({ tool: 'get_ticket' }).warn({ credentials: { api_key: 'secret-value' } }, 'inside a span');
    const [outside, inside] = out.lines();
    expect(outside).toMatchObject({
      service: 'test',
      level: 'info',
      msg: 'outside a span',
      invocationId: 'i1',
      headers: '[redacted]',
    });
    expect(outside).not.toHaveProperty('trace_id');
    expect(inside).toMatchObject({
      level: 'warn',
      tool: 'get_ticket',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      span_id: '00f067aa0ba902b7',
      credentials: '[redacted]',
    });
    expect(
      out
        .lines()
        .map((l) => JSON.stringify(l))
        .join('\n'),
    ).not.toContain('secret-value');
  });

  it('writes no trace fields without a mixin', () => {
    const out = capture();
    createLogger({ service: 'test', destination: out.stream }).info('plain');
    expect(Object.keys(out.lines()[0]!).sort()).toEqual(['level', 'msg', 'service', 'time']);
  });
});
