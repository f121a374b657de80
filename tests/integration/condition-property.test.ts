import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { compileCondition, evaluate } from '../../packages/conditions/src/index.ts';
import { argumentsAsSent, nonFiniteNumberPath } from '../../services/edge/src/calls/call-arguments.ts';
import type { LoadedCatalog, LoadedTool } from '../../services/edge/src/state/catalogs.ts';
import { buildRequest } from '../../services/worker/src/http-operation.ts';

// Issue #58 C, as a property: for any arguments the edge lets through under a condition (its own checks, then the
// condition on the arguments as sent), the request the worker builds carries values that satisfy the same condition.
// The edge's and the worker's own functions, on a plan with what the review used: a body number, a parameter default
// (the worker fills it in), and an exploded object query parameter next to another query parameter.

const plan: Parameters<typeof buildRequest>[0] = {
  kind: 'http',
  method: 'POST',
  url: 'http://127.0.0.1:1/refunds',
  params: [
    { arg: 'status', name: 'status', in: 'query' },
    { arg: 'limit', name: 'limit', in: 'query', default: 5000 },
    { arg: 'filter', name: 'filter', in: 'query', style: 'form', explode: true },
    { arg: 'amount', name: 'amount', in: 'body' },
  ],
  authHeaders: {},
  secrets: {},
};

const inputSchema = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    limit: { type: 'integer', default: 5000 },
    filter: { type: 'object', additionalProperties: { type: 'string' } },
    amount: { type: 'number' },
  },
};
const tool = { def: { name: 'refund', inputSchema } } as unknown as LoadedTool;
const loaded = {
  catalog: { tools: [{ tool: tool.def, plan }] },
} as unknown as LoadedCatalog;

const compiled = compileCondition(
  'has(args.amount) && args.amount <= 100 && (!has(args.limit) || args.limit <= 10) && args.status == "open"',
  { inputSchema },
);
if (!compiled.ok) throw new Error(JSON.stringify(compiled.problems));
const condition = compiled.condition;

const holds = (args: Readonly<Record<string, unknown>>) =>
  evaluate(condition, { caller: {}, tool: { name: 'refund' }, args } as never);

/** What the edge lets through (undefined: refused): its own checks, then the condition on the arguments as sent. */
function edgeAllows(args: Record<string, unknown>): boolean {
  if (nonFiniteNumberPath(args) !== undefined) return false;
  return holds(argumentsAsSent(loaded, tool, args));
}

/** The values the upstream reads from the request, as the condition's arguments. */
function upstreamArguments(request: { url: string; body?: string }): Record<string, unknown> {
  const query = new URL(request.url).searchParams;
  const single = (name: string) => {
    const all = query.getAll(name);
    expect(all.length).toBeLessThanOrEqual(1); // an upstream reading one value must not be offered two
    return all[0];
  };
  const body = request.body === undefined ? {} : (JSON.parse(request.body) as { amount?: unknown });
  const status = single('status');
  const limit = single('limit');
  return {
    ...(status !== undefined ? { status } : {}),
    ...(limit !== undefined ? { limit: Number(limit) } : {}),
    ...(body.amount !== undefined ? { amount: body.amount } : {}),
  };
}

const keys = fc.constantFrom('status', 'limit', 'region', 'deleted');
const argumentsArb = fc.record(
  {
    status: fc.constantFrom('open', 'closed'),
    limit: fc.oneof(fc.integer({ min: -5, max: 20 }), fc.constant(5000)),
    filter: fc.dictionary(keys, fc.constantFrom('open', 'closed', '1', '5000')),
    amount: fc.oneof(
      fc.double({ noNaN: true }),
      fc.constantFrom(-Infinity, Infinity, 100, 100.0000001, -1e308, Number.MAX_VALUE),
    ),
  },
  { requiredKeys: [] },
);

describe('conditions hold on what the upstream receives', () => {
  it('for random arguments the edge allows, the built request satisfies the condition (or is refused unsent)', () => {
    let allowed = 0;
    fc.assert(
      fc.property(argumentsArb, (args) => {
        if (!edgeAllows(args)) return;
        let request: { url: string; body?: string };
        try {
          request = buildRequest(plan, args, {});
        } catch (err) {
          // Refused in the worker before anything is sent (a key of `filter` naming another query parameter).
          expect(String(err)).toContain('Nothing was sent');
          return;
        }
        allowed++;
        expect(holds(upstreamArguments(request))).toBe(true);
      }),
      { numRuns: 2000, seed: 58 },
    );
    expect(allowed).toBeGreaterThan(0);
  });

  it('the review’s cases: -Infinity, a missing limit (default 5000), a colliding exploded key', () => {
    expect(edgeAllows({ status: 'open', amount: -Infinity })).toBe(false);
    expect(edgeAllows({ status: 'open', amount: 50 })).toBe(false);
    expect(edgeAllows({ status: 'open', amount: 50, limit: 10 })).toBe(true);
    expect(() =>
      buildRequest(plan, { status: 'open', amount: 50, limit: 10, filter: { status: 'closed' } }, {}),
    ).toThrow('Nothing was sent');
  });
});
