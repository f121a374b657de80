import type { ProblemIssue } from '@toolplane/errors';
import { resultShapeProblems } from '../../catalog/result-shapes.ts';
import { resultCacheProblems } from '../../catalog/result-cache.ts';
import { dataLabelProblems } from '../../catalog/labels.ts';
import {
  inlineConfigsOf,
  referencePattern,
  type Change,
  type DesiredResource,
  type Kind,
  type LiveResource,
} from './kind.ts';
import type { LiveState } from './live.ts';
import type { Desired } from './read-files.ts';
import { fileOf, kindOf, kinds } from './specs.ts';

export interface Plan {
  changes: Change[];
  problems: ProblemIssue[];
}

export interface PlanOptions {
  prune: boolean;
  /** The references the client has a value for (`env:NAME`, `secret:NAME`): only names travel with a plan. */
  provided: Set<string>;
  /** The key making the request: never deleted. */
  callerKeyId?: string | undefined;
  /** The scopes the caller may grant (`mayGrant`): apply creates keys as `POST /api_keys` does, with its rule. */
  mayGrant: (scope: string) => boolean;
}

/** JSON with object keys sorted: equal values, equal text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** Fields whose values are references to secrets (compared by their keys, and by reference once apply recorded them). */
const secretMaps = new Set(['credentials', 'headers']);

function secretMapChanged(field: string, want: Record<string, string>, live: LiveResource): boolean {
  const have = (live.spec[field] ?? {}) as Record<string, string>;
  if (canonical(Object.keys(want).sort()) !== canonical(Object.keys(have).sort())) return true;
  const recorded = live.marker?.references ?? {};
  return Object.keys(want).some(
    (k) => recorded[`${field}/${k}`] !== undefined && recorded[`${field}/${k}`] !== want[k],
  );
}

/**
 * A server's own external MCP configs differ: in name, URL, tools or header names, or in a header's reference where
 * apply recorded one (values are never read back).
 */
function inlineConfigsChanged(d: DesiredResource, live: LiveResource): boolean {
  const shape = (list: ReturnType<typeof inlineConfigsOf>) =>
    canonical(list.map((c) => ({ name: c.name, url: c.url, tools: c.tools, headers: Object.keys(c.headers).sort() })));
  const want = inlineConfigsOf(d.spec);
  if (shape(want) !== shape(inlineConfigsOf(live.spec))) return true;
  const recorded = live.marker?.references ?? {};
  return want.some((c) =>
    Object.entries(c.headers).some(([k, ref]) => {
      const had = recorded[`externalMcpConfigs/${c.name}/headers/${k}`];
      return had !== undefined && had !== ref;
    }),
  );
}

function connectorChanged(d: DesiredResource, live: LiveResource): boolean {
  const stored = live.connector!;
  if (d.connector!.text === stored.text) return false;
  return (
    d.connector!.kind !== stored.kind ||
    canonical(d.connector!.descriptor) !== canonical(stored.descriptor) ||
    canonical(d.connector!.document ?? null) !== canonical(stored.document ?? null)
  );
}

/** The fields of `d` that differ from the live resource. */
function changedFields(d: DesiredResource, live: LiveResource): string[] {
  const fields: string[] = [];
  if (d.kind === 'connector') {
    if (connectorChanged(d, live)) fields.push('document');
  } else if (d.kind !== 'secret') {
    for (const [field, want] of Object.entries(d.spec)) {
      const changed =
        field === 'externalMcpConfigs'
          ? inlineConfigsChanged(d, live)
          : secretMaps.has(field)
            ? secretMapChanged(field, want as Record<string, string>, live)
            : canonical(want) !== canonical(live.spec[field] ?? null);
      if (changed) fields.push(field);
    }
  }
  if (!live.marker || live.marker.file !== d.file) fields.push('managed');
  return fields;
}

const order = (kind: Kind) => kinds.findIndex((k) => k.kind === kind);

function diff(desired: Desired, live: LiveState, opts: PlanOptions): Change[] {
  const liveBy = new Map(live.resources.map((r) => [`${r.kind}/${r.name}`, r]));
  const wanted = new Set(desired.resources.map((r) => `${r.kind}/${r.name}`));
  const changes: Change[] = desired.resources.map((d) => {
    const l = liveBy.get(`${d.kind}/${d.name}`);
    if (!l) return { kind: d.kind, name: d.name, file: d.file, action: 'create', fields: [], desired: d };
    const fields = changedFields(d, l);
    return {
      kind: d.kind,
      name: d.name,
      file: d.file,
      action: fields.length > 0 ? 'update' : 'unchanged',
      fields,
      desired: d,
      live: l,
    };
  });
  for (const l of live.resources) {
    if (wanted.has(`${l.kind}/${l.name}`)) continue;
    const kept = !opts.prune || (l.kind === 'api_key' && l.id === opts.callerKeyId);
    const file = l.kind === 'connector' ? fileOf(l.kind, l.name, l.connector!.ext) : fileOf(l.kind, l.name);
    changes.push({ kind: l.kind, name: l.name, file, action: kept ? 'unmanaged' : 'delete', fields: [], live: l });
  }
  return changes.sort((a, b) => order(a.kind) - order(b.kind) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Whether a resource of `kind` named `name` exists after the apply. */
function resolver(changes: Change[]) {
  const after = new Set(changes.filter((c) => c.action !== 'delete').map((c) => `${c.kind}/${c.name}`));
  return (kind: Kind, name: string) => after.has(`${kind}/${name}`);
}

const at = (c: Change, path: string, message: string): ProblemIssue => ({ path: `${c.file}#${path}`, message });

/** References to other resources, by name (each kind's `refers`): each must exist after the apply. */
function danglingNames(c: Change, exists: (kind: Kind, name: string) => boolean): ProblemIssue[] {
  return (kindOf(c.kind).refers?.(c.desired!.spec) ?? []).flatMap((n) =>
    exists(n.kind, n.name) ? [] : [at(c, n.path, `no ${n.what} "${n.name}" in the files or the workspace`)],
  );
}

/** The secret references of a change, `[field path, reference]`, and whether apply writes them (needs their values). */
function referencesOf(c: Change): { path: string; ref: string; written: boolean }[] {
  if (c.kind === 'secret') return [{ path: '/secrets', ref: `\${secret:${c.name}}`, written: c.action === 'create' }];
  const out: { path: string; ref: string; written: boolean }[] = [];
  for (const field of secretMaps) {
    const map = c.desired!.spec[field] as Record<string, string> | undefined;
    const written = c.action === 'create' || c.fields.includes(field);
    for (const [key, ref] of Object.entries(map ?? {})) out.push({ path: `/${field}/${key}`, ref, written });
  }
  const inlineWritten = c.action === 'create' || c.fields.includes('externalMcpConfigs');
  inlineConfigsOf(c.desired!.spec).forEach((inline, i) => {
    for (const [key, ref] of Object.entries(inline.headers))
      out.push({ path: `/externalMcpConfigs/${i}/headers/${key}`, ref, written: inlineWritten });
  });
  return out;
}

function referenceProblems(
  c: Change,
  opts: PlanOptions,
  exists: (kind: Kind, name: string) => boolean,
): ProblemIssue[] {
  return referencesOf(c).flatMap(({ path, ref, written }) => {
    const [, source, name] = referencePattern.exec(ref)!;
    const problems: ProblemIssue[] = [];
    if (source === 'secret' && c.kind !== 'secret' && !exists('secret', name!))
      problems.push(at(c, path, `${ref}: no workspace secret "${name}" in ${fileOf('secret', '')} or the workspace`));
    else if (written && !opts.provided.has(`${source}:${name}`))
      problems.push(at(c, path, `${ref} has no value: set ${name} in the environment or the values file`));
    return problems;
  });
}

/** A key apply would create with a scope the caller cannot grant: `POST /api_keys` would refuse it mid-apply. */
function ungrantable(c: Change, opts: PlanOptions): ProblemIssue[] {
  if (c.kind !== 'api_key' || c.action !== 'create') return [];
  return (c.desired!.spec.scopes as string[]).flatMap((s, i) =>
    opts.mayGrant(s) ? [] : [at(c, `/scopes/${i}`, `the applying credential has no "${s}" scope to grant`)],
  );
}

/**
 * A server's result shapes, caches and data labels the API would refuse (`config.resultShapes`, `config.resultCache`,
 * `config.dataLabels`), in its file.
 */
function resultShapes(c: Change): ProblemIssue[] {
  if (c.kind !== 'server') return [];
  const config = c.desired!.spec.config;
  return [...resultShapeProblems(config), ...resultCacheProblems(config), ...dataLabelProblems(config)].map((p) =>
    at(c, p.path, p.message),
  );
}

/** What the API cannot change in place. */
function immutables(c: Change): ProblemIssue[] {
  if (c.action !== 'update') return [];
  if (c.kind === 'api_key' && c.fields.includes('scopes'))
    return [at(c, '/scopes', "an API key's scopes cannot change: give the key a new name (and prune the old one)")];
  if (c.kind === 'connector_instance' && c.fields.includes('connector'))
    return [
      at(
        c,
        '/connector',
        "an instance's connector cannot change: give the instance a new name (and prune the old one)",
      ),
    ];
  if (c.kind === 'connector' && c.desired!.connector!.kind !== c.live!.connector!.kind)
    return [
      at(
        c,
        '',
        `this connector was registered as ${c.live!.connector!.kind}: a new slug or version for the other kind`,
      ),
    ];
  return [];
}

/**
 * The plan: every resource's change, and every problem that stops an apply (names, references, values, immutables,
 * scopes the caller cannot grant, servers' approval rules and result shapes). The checks that read more of the
 * workspace follow it (handlers.ts): servers' tools to confirm (confirm-tools.ts) and each kind's own `check` (policies'
 * conditions, the tools quotas and guardrails name).
 */
export function planChanges(desired: Desired, live: LiveState, opts: PlanOptions): Plan {
  const changes = diff(desired, live, opts);
  const exists = resolver(changes);
  const problems = [...desired.problems];
  const involved = new Set(desired.resources.map((r) => `${r.kind}/${r.name}`));
  problems.push(...live.ambiguous.filter((a) => involved.has(a.path) || opts.prune));
  for (const c of changes) {
    if (!c.desired) continue;
    problems.push(
      ...danglingNames(c, exists),
      ...referenceProblems(c, opts, exists),
      ...immutables(c),
      ...ungrantable(c, opts),
      ...(kindOf(c.kind).problems?.(c, exists) ?? []),
      ...resultShapes(c),
    );
  }
  return { changes, problems };
}
