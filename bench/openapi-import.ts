// bench/openapi-import: imports GitHub's REST API description (@octokit/openapi, api.github.com.json,
// ~13 MB, ~1,200 operations) into a catalog: importOpenApi + compileOpenApiTools of every operation.
// Each measurement runs in a fresh process (peak RSS is the process's maxRSS); the baseline is
// JSON.parse of the same text, measured in the same run. Not a test: it prints a table and the ratios;
// copy them into docs/benchmarks.md ("OpenAPI import").
//
//   pnpm bench:openapi-import [--runs 5]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, child: { type: 'string' } } });

/** The description ships with the benchmarks' dependencies. */
function descriptionPath(): string {
  const require = createRequire(import.meta.url);
  return require.resolve('@octokit/openapi/generated/api.github.com.json');
}

interface Sample {
  ms: number;
  peakRssMb: number;
  tools?: number;
  catalogMb?: number;
}

async function child(kind: string): Promise<Sample> {
  const text = readFileSync(descriptionPath(), 'utf8');
  if (kind === 'baseline') {
    const t0 = performance.now();
    const doc = JSON.parse(text) as Record<string, unknown>;
    const ms = performance.now() - t0;
    if (!doc.paths) throw new Error('unexpected document');
    return { ms, peakRssMb: process.resourceUsage().maxRSS / 1024 };
  }
  const { compileOpenApiTools, importOpenApi } = await import('../packages/openapi/src/index.ts');
  const t0 = performance.now();
  const imported = await importOpenApi(text);
  const tools = compileOpenApiTools(imported.document, { binding: { secretNames: {} } });
  const ms = performance.now() - t0;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  return { ms, peakRssMb, tools: tools.length, catalogMb: JSON.stringify(tools).length / 1e6 };
}

if (values.child) {
  process.stdout.write(JSON.stringify(await child(values.child)));
} else {
  const runs = Math.max(1, Number(values.runs));
  const run = (kind: string): Sample =>
    JSON.parse(
      execFileSync(
        process.execPath,
        ['--conditions=@toolplane/source', new URL(import.meta.url).pathname, '--child', kind],
        { encoding: 'utf8', maxBuffer: 1 << 20 },
      ),
    ) as Sample;
  const samples: Record<'baseline' | 'import', Sample[]> = { baseline: [], import: [] };
  // Interleaved, so both see the same machine load.
  for (let i = 0; i < runs; i++) {
    samples.baseline.push(run('baseline'));
    samples.import.push(run('import'));
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const row = (label: string, s: Sample[]) => ({
    label,
    ms: median(s.map((x) => x.ms)),
    maxMs: Math.max(...s.map((x) => x.ms)),
    rss: median(s.map((x) => x.peakRssMb)),
    maxRss: Math.max(...s.map((x) => x.peakRssMb)),
  });
  const base = row('JSON.parse (baseline)', samples.baseline);
  const imp = row('importOpenApi + compileOpenApiTools', samples.import);
  const size = readFileSync(descriptionPath()).length / 1e6;
  console.log(
    `GitHub REST description: ${size.toFixed(1)} MB, ${samples.import[0]!.tools} tools, ` +
      `catalog ${samples.import[0]!.catalogMb!.toFixed(1)} MB as JSON; ${runs} runs each, fresh process per run, median (max)`,
  );
  console.log('| step | wall time | peak RSS |');
  console.log('| --- | --- | --- |');
  for (const r of [base, imp])
    console.log(
      `| ${r.label} | ${r.ms.toFixed(0)} ms (${r.maxMs.toFixed(0)}) | ${r.rss.toFixed(0)} MB (${r.maxRss.toFixed(0)}) |`,
    );
  console.log(
    `ratio import / baseline: time ${(imp.ms / base.ms).toFixed(1)}×, peak RSS ${(imp.rss / base.rss).toFixed(1)}×`,
  );
  const ok = imp.maxMs <= 1500 && imp.maxRss <= 400;
  console.log(`target ≤ 1500 ms and ≤ 400 MB: ${ok ? 'met' : 'NOT met'}`);
  process.exitCode = ok ? 0 : 1;
}
