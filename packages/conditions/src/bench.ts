// Micro-benchmark of policy conditions (ADR 0035, docs/benchmarks.md): compile once, evaluate per call.
//   pnpm --filter @toolplane/conditions bench [-- --rounds 7 --calls 200000]
// Prints, per case, the median and the fastest of interleaved rounds in µs per evaluation (all cases run
// in each round, so that a machine that slows down mid-run slows every case alike).
import { parseArgs } from 'node:util';
import {
  compileCondition,
  evaluate,
  explain,
  type Condition,
  type ConditionActivation,
  type JsonSchema,
} from './index.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '7' }, calls: { type: 'string', default: '200000' } },
});
const rounds = Number(values.rounds);
const calls = Number(values.calls);

const schema: JsonSchema = {
  type: 'object',
  properties: {
    amount: { type: 'number' },
    currency: { type: 'string' },
    items: {
      type: 'array',
      items: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer' } } },
    },
  },
};

function compiled(text: string): Condition {
  const r = compileCondition(text, { inputSchema: schema });
  if (!r.ok) throw new Error(`${text}: ${JSON.stringify(r.problems)}`);
  return r.condition;
}

const typical = 'tool.name == "refund" && args.amount <= 100 && caller.key_name.startsWith("support-")';
const items = Array.from({ length: 10 }, (_, i) => ({ sku: `A-${i}`, qty: i }));
const activations: ConditionActivation[] = [
  {
    caller: { key_id: 'k1', key_name: 'support-eu' },
    tool: { name: 'refund', server_id: 's1' },
    args: { amount: 50, currency: 'EUR', items },
  },
  {
    caller: { key_id: 'k1', key_name: 'support-eu' },
    tool: { name: 'refund', server_id: 's1' },
    args: { amount: 150, currency: 'EUR', items },
  },
  { caller: { key_id: 'k2', key_name: 'ops' }, tool: { name: 'get_ticket', server_id: 's1' }, args: { id: 'T-1' } },
];

const typicalCondition = compiled(typical);
const granted = activations[0]!;
const cases: { name: string; run: (a: ConditionActivation) => boolean }[] = [
  { name: 'no condition (the loop alone)', run: (a) => a.tool.name.length > 0 },
  { name: `typical: ${typical}`, run: (a) => evaluate(typicalCondition, a) },
  { name: 'the same, granted each time (every operand evaluated)', run: () => evaluate(typicalCondition, granted) },
  {
    name: 'one comparison, a third of the calls without the argument: args.amount <= 100',
    run: (
      (c) => (a) =>
        evaluate(c, a)
    )(compiled('args.amount <= 100')),
  },
  {
    name: 'matches (RE2): args.currency.matches("^[A-Z]{3}$")',
    run: (
      (c) => (a) =>
        evaluate(c, a)
    )(compiled('!has(args.currency) || args.currency.matches("^[A-Z]{3}$")')),
  },
  {
    name: 'comprehension over 10 items (data limits checked first)',
    run: (
      (c) => (a) =>
        evaluate(c, a)
    )(compiled('!has(args.items) || args.items.all(i, i.qty < 100)')),
  },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Warm-up, then interleaved rounds.
for (const c of cases) for (let i = 0; i < 50_000; i++) c.run(activations[i % 3]!);
const results = new Map<string, number[]>(cases.map((c) => [c.name, []]));
let sink = 0;
for (let r = 0; r < rounds; r++)
  for (const c of cases) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) sink += c.run(activations[i % 3]!) ? 1 : 0;
    results.get(c.name)!.push(Number(process.hrtime.bigint() - start) / calls / 1000);
  }

function compileTime(withSchema: boolean): number {
  const n = 2000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) compileCondition(typical, withSchema ? { inputSchema: schema } : {});
  return Number(process.hrtime.bigint() - start) / n / 1000;
}
const explainer = compiled(typical);
const explainStart = process.hrtime.bigint();
for (let i = 0; i < 20_000; i++) explain(explainer, activations[1]!);
const explainUs = Number(process.hrtime.bigint() - explainStart) / 20_000 / 1000;

console.log(`node ${process.version}, ${rounds} interleaved rounds of ${calls} evaluations (3 activations in turn)`);
for (const [name, xs] of results)
  console.log(
    `${median(xs).toFixed(3).padStart(7)} µs median  ${Math.min(...xs)
      .toFixed(3)
      .padStart(7)} µs fastest  ${name}`,
  );
console.log(
  `compile (typical): ${compileTime(false).toFixed(0)} µs without a schema, ${compileTime(true).toFixed(0)} µs with one`,
);
console.log(`explain of a false condition (a refusal): ${explainUs.toFixed(2)} µs`);
if (sink < 0) console.log(sink);
