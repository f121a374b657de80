import type { JsonSchema } from './schema.ts';

/**
 * An event type's arguments as its conditions see them (ADR 0081): the subscription's arguments, and, when the worker
 * gives it an occurrence, the occurrence under `event` (its `data` as the provider sent it). The control plane checks
 * a policy's condition against it and the edge compiles it so, so that a condition that reads `args.event` is saved and
 * evaluated alike.
 */
export function eventConditionSchema(input: JsonSchema): JsonSchema {
  const schema = input as Record<string, unknown> & { properties?: Record<string, unknown> };
  const properties = schema.properties ?? {};
  const event = {
    type: 'object',
    properties: { eventId: { type: 'string' }, name: { type: 'string' }, timestamp: { type: 'string' }, data: {} },
  };
  return { ...schema, properties: { ...properties, event } } as JsonSchema;
}
