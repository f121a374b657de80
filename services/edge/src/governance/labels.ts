import {
  isOutboundLabel,
  type CatalogTool,
  type LabelSource,
  type OutboundLabel,
  type ResultLabel,
} from '@toolplane/contracts';

/** A tool's data-flow labels (ADR 0078), split as the session stage (`pipeline/session.ts`) reads them. */
interface ToolLabels {
  /** What each result brings (`private`, `untrusted`) and how it was found. */
  readonly results: readonly { label: ResultLabel; source: LabelSource }[];
  /** How it sends data out (`public_write`, `external_write`): session rules judge its calls. */
  readonly outbound: readonly OutboundLabel[];
}

/** A catalog tool's labels, split; undefined when it has none. */
function toolLabels(entry: CatalogTool): ToolLabels | undefined {
  if (!entry.labels?.length) return undefined;
  const results: { label: ResultLabel; source: LabelSource }[] = [];
  const outbound: OutboundLabel[] = [];
  for (const { label, source } of entry.labels) {
    if (isOutboundLabel(label)) outbound.push(label);
    else results.push({ label, source });
  }
  return { results, outbound };
}

/** `session`: the tool's labels, as published on it (`pipeline/tool-facts.ts`); nothing to compile per version. */
export const labelFacts = () => toolLabels;
