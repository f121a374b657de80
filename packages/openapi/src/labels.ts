import { type CatalogTool, type DataLabel, dataLabels, type LabelSource } from '@toolplane/contracts';
import type { Json } from './json-pointer.ts';

/**
 * A tool's data-flow labels as its definition gives them (ADR 0078, docs/governance.md "Where a tool's labels come
 * from"): declared by an OpenAPI operation (`x-toolplane-labels`) or a route mapping (`labels`), else read from the MCP
 * annotations a tool's author gave (`openWorldHint`) as hints. The control plane adds an admin's classification.
 */

export type ToolLabels = NonNullable<CatalogTool['labels']>;

/** The extension an OpenAPI operation declares its labels with: a list of `private`, `untrusted`, … */
export const labelsExtension = 'x-toolplane-labels';

const known = new Set<string>(dataLabels);
const isDataLabel = (v: unknown): v is DataLabel => typeof v === 'string' && known.has(v);

/** The labels an operation declares (the known ones: an unknown entry is a warning of the import, `labelsProblem`). */
export function operationLabels(op: Json): DataLabel[] {
  const v = op[labelsExtension];
  return Array.isArray(v) ? v.filter(isDataLabel) : [];
}

/** Why (part of) an operation's declared labels is ignored; undefined when it has none or only known ones. */
export function labelsProblem(op: Json): string | undefined {
  const v = op[labelsExtension];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) return `${labelsExtension} must be a list of labels (${dataLabels.join(', ')}): ignored`;
  const unknown = v.filter((l) => !isDataLabel(l));
  if (unknown.length === 0) return undefined;
  return `${labelsExtension}: ${unknown.map((l) => JSON.stringify(l)).join(', ')} ignored (not one of ${dataLabels.join(', ')})`;
}

const rank: Record<LabelSource, number> = { declared: 0, classification: 1, annotation: 2, guardrail: 3 };

/** At most this many labels on a tool (there are four: each once). */
const MAX_TOOL_LABELS = 8;

/**
 * One entry per label, in the order of `dataLabels`; a label given by more than one source keeps the strongest
 * (declared, then classification, then annotation). Undefined when there is none.
 */
export function mergeLabels(...lists: readonly (readonly ToolLabels[number][] | undefined)[]): ToolLabels | undefined {
  const best = new Map<DataLabel, LabelSource>();
  for (const list of lists)
    for (const { label, source } of list ?? []) {
      const had = best.get(label);
      if (had === undefined || rank[source] < rank[had]) best.set(label, source);
    }
  const out = dataLabels.flatMap((label) => {
    const source = best.get(label);
    return source ? [{ label, source }] : [];
  });
  return out.length > 0 ? out.slice(0, MAX_TOOL_LABELS) : undefined;
}

/** Labels of one source. */
export const labelled = (labels: readonly unknown[] | undefined, source: LabelSource): ToolLabels =>
  (labels ?? []).filter(isDataLabel).map((label) => ({ label, source }));

/**
 * MCP annotations read as hints, for a tool that declares nothing: a tool of the open world that only reads
 * (`openWorldHint` and `readOnlyHint`) brings content written by outsiders (`untrusted`); one that may write there
 * sends data out (`external_write`). No `openWorldHint: true`: no hint.
 */
export function annotationLabels(annotations: unknown): ToolLabels {
  if (annotations === null || typeof annotations !== 'object') return [];
  const a = annotations as { openWorldHint?: unknown; readOnlyHint?: unknown };
  if (a.openWorldHint !== true) return [];
  return [{ label: a.readOnlyHint === true ? 'untrusted' : 'external_write', source: 'annotation' }];
}
