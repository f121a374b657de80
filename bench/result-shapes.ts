// bench/result-shapes: what a result shaped for models saves, and what shaping costs the worker (ADR 0052).
// Not a test: it prints what it measured; copy it into docs/benchmarks.md.
//
//   pnpm bench:result-shapes [--items 30] [--iterations 20000]
//
// The answer is a GitHub issue search as GitHub gives it (`tests/fixtures/github-search.ts`: every member GitHub
// documents for an issue). The shape keeps number, title, state, URL and label names of at most 20 issues. Bytes are
// the JSON text's; tokens are counted with gpt-tokenizer's o200k_base encoding (GPT-4o's; Claude's tokenizer is not
// public, its counts differ by some percent, the ratio much less). CPU: `shapeResult` (the worker's function: the
// projection compiled once, the text parsed from the structured content already there, the shaped text serialised) on
// the same answer, timed over `--iterations` runs after a warm-up; per call and per KB of the answer.
import { parseArgs } from 'node:util';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { githubIssueSearch, issueSearchProjection } from '../tests/fixtures/github-search.ts';
import { shapeResult } from '../services/worker/src/result-shapes.ts';

const { values } = parseArgs({
  options: { items: { type: 'string', default: '30' }, iterations: { type: 'string', default: '20000' } },
});
const items = Number(values.items);
const iterations = Number(values.iterations);

const answer = githubIssueSearch(items);
const text = JSON.stringify(answer);
const result = { content: [{ type: 'text', text }], structuredContent: answer };
const shape = { projection: issueSearchProjection, maxItems: 20 };
const shaped = shapeResult(result, shape).result;
const shapedText = String(shaped.content[0]?.text);

const bytes = (s: string) => Buffer.byteLength(s);
const tokens = (s: string) => encode(s).length;
const pct = (a: number, b: number) => `${(100 * (1 - b / a)).toFixed(1)} %`;

for (let i = 0; i < 2000; i++) shapeResult(result, shape);
const t0 = process.hrtime.bigint();
for (let i = 0; i < iterations; i++) shapeResult(result, shape);
const nsPerCall = Number(process.hrtime.bigint() - t0) / iterations;

console.log(`answer: GitHub issue search, ${items} issues; shape: ${issueSearchProjection}, maxItems 20\n`);
console.log('|        | bytes | tokens (o200k_base) |');
console.log('| ------ | ----: | ------------------: |');
console.log(`| before | ${bytes(text)} | ${tokens(text)} |`);
console.log(`| after  | ${bytes(shapedText)} | ${tokens(shapedText)} |`);
console.log(`| saved  | ${pct(bytes(text), bytes(shapedText))} | ${pct(tokens(text), tokens(shapedText))} |\n`);
console.log(
  `shapeResult: ${(nsPerCall / 1e3).toFixed(1)} µs per call, ${(nsPerCall / 1e3 / (bytes(text) / 1024)).toFixed(2)} µs per KB ` +
    `of answer (${iterations} runs, node ${process.version})`,
);
