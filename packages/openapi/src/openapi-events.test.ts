import { describe, expect, it } from '@jest/globals';
import { compileOpenApiEvents } from './openapi-events.ts';

const doc = {
  openapi: '3.1.0',
  info: { title: 'Repo events', version: '1' },
  paths: {},
  components: { schemas: { Repo: { type: 'object', properties: { full_name: { type: 'string' } } } } },
  webhooks: {
    push: {
      post: {
        operationId: 'github.push',
        summary: 'A push',
        'x-toolplane-event': { provider: 'github', types: ['push'] },
        'x-toolplane-event-filters': {
          repository: { schema: { type: 'string' }, pointer: '/repository/full_name' },
        },
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['ref'],
                properties: { ref: { type: 'string' }, repository: { $ref: '#/components/schemas/Repo' } },
              },
            },
          },
        },
      },
    },
    ping: { post: { requestBody: { content: {} } } },
    bad: {
      post: {
        'x-toolplane-event': { provider: 'github', types: ['x'] },
        'x-toolplane-event-filters': { a: { schema: {} } },
      },
    },
  },
};

describe('OpenAPI webhooks as event types', () => {
  it('a webhook with x-toolplane-event is one; its arguments filter by JSON Pointer; its payload is self-contained', () => {
    const { events, problems } = compileOpenApiEvents(doc);
    expect(events.map((e) => e.event.name)).toEqual(['github.push', 'bad']);
    const push = events[0]!;
    expect(push.match).toEqual({ provider: 'github', types: ['push'] });
    expect(push.filters).toEqual({ repository: '/repository/full_name' });
    expect(push.event).toMatchObject({
      title: 'A push',
      delivery: ['poll', 'push', 'webhook'],
      inputSchema: { type: 'object', properties: { repository: { type: 'string' } }, additionalProperties: false },
    });
    expect(push.event.payloadSchema).toMatchObject({
      properties: { repository: { $ref: '#/$defs/Repo' } },
      $defs: { Repo: { properties: { full_name: { type: 'string' } } } },
    });
    expect(events[1]!.event.inputSchema).toEqual({ type: 'object', properties: {}, additionalProperties: false });
    expect(problems).toEqual([
      'webhook "ping": not an event type: no x-toolplane-event {provider, types}',
      'webhook "bad": x-toolplane-event-filters.a needs {schema, pointer} with a JSON Pointer',
    ]);
  });

  it('a document without webhooks has none', () => {
    expect(compileOpenApiEvents({ openapi: '3.1.0', paths: {} })).toEqual({ events: [], problems: [] });
  });
});
