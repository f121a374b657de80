import { type Catalog, type ResultLabel, resultLabels, type WorkflowPlan } from '@toolplane/contracts';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';
import { labelled, mergeLabels, type ToolLabels } from '@toolplane/openapi';
import type { WorkflowIR } from '@toolplane/workflow';

/**
 * A tool's data-flow labels as its catalog publishes them (`CatalogTool.labels`, ADR 0078, docs/governance.md "Where a
 * tool's labels come from"). The compiled tool brings its declaration (a route mapping's `labels`, an OpenAPI
 * operation's `x-toolplane-labels`; a curated connector's defaults are declarations) or, failing one, the hints of the
 * annotations its author gave (`openWorldHint`, an external MCP server's tools). Here: a workflow tool's are its steps'
 * (what its result brings and what it sends out is what its steps' do), and a server's classification by an admin
 * (`config.dataLabels`: `private` / `untrusted`) is added to every tool of the server. One entry per label; a declared
 * label stays declared.
 */

/** What `config.dataLabels` may name: the labels a result brings. */
const results = new Set<string>(resultLabels);

/** `config.dataLabels` as stored (absent or not a list: none; only the result labels). */
function classificationOf(config: unknown): ResultLabel[] {
  const v = (config as { dataLabels?: unknown } | null | undefined)?.dataLabels;
  return Array.isArray(v) ? v.filter((l): l is ResultLabel => typeof l === 'string' && results.has(l)) : [];
}

/** Every problem of a server config's `dataLabels` (a list of `private` / `untrusted`, each once), at its path. */
export function dataLabelProblems(config: unknown): ProblemIssue[] {
  const v = (config as { dataLabels?: unknown } | null | undefined)?.dataLabels;
  if (v === undefined) return [];
  const at = '/config/dataLabels';
  if (!Array.isArray(v))
    return [{ path: at, message: 'dataLabels is a list of the labels every result brings: private, untrusted' }];
  return v.flatMap((l, i): ProblemIssue[] => {
    if (typeof l !== 'string' || !results.has(l))
      return [{ path: `${at}/${i}`, message: `${JSON.stringify(l)} is not a result label (private, untrusted)` }];
    if (v.indexOf(l) !== i) return [{ path: `${at}/${i}`, message: `duplicate label "${l}"` }];
    return [];
  });
}

/** Refuses (422, every problem listed) a server config whose `dataLabels` is not a list of result labels. */
export function refuseBadDataLabels(config: unknown): void {
  const problems = dataLabelProblems(config);
  if (problems.length > 0) throw new ValidationError('the data labels are invalid', problems);
}

/**
 * A workflow tool's labels: the union of its steps' in every workflow it may run (`workflows`: itself, its
 * dependencies, the workflows its steps and actions call): a tool step's tool's, as its catalog said at deployment,
 * an HTTP step's operation's declared ones.
 */
export function workflowLabels(workflows: readonly WorkflowIR[], stepTools: WorkflowPlan['tools']): ToolLabels {
  return workflows.flatMap((w) =>
    w.steps.flatMap((s): ToolLabels => {
      if (s.target.kind === 'tool') return stepTools?.[s.target.ref]?.labels ?? [];
      if (s.target.kind === 'http') return labelled(s.labels, 'declared');
      return [];
    }),
  );
}

/**
 * Adds the server's classification (`config.dataLabels`) to every tool of its catalog, and, for a server with attached
 * external servers, to the catalog itself: what reads of their resources and prompts bring.
 */
export function withClassification(catalog: Catalog, config: unknown): Catalog {
  const labels = classificationOf(config);
  const classified = labelled(labels, 'classification');
  if (classified.length === 0) return catalog;
  return {
    ...catalog,
    ...(catalog.external?.length ? { classification: labels } : {}),
    tools: catalog.tools.map((t) => {
      const labels = mergeLabels(t.labels, classified);
      return labels ? { ...t, labels } : t;
    }),
  };
}
