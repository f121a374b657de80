import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { locateIssues } from '@toolplane/client';
import type { Command } from 'commander';
import type { Api, WorkspaceApplyResult, WorkspaceFile, WorkspacePlan } from './api.ts';
import { action, withJson, type Context } from './context.ts';
import { CliError, exitCodeForStatus, invalidInput } from './errors.ts';
import { documentFiles, readText } from './files.ts';
import type { Output } from './output.ts';

/**
 * `toolplane export|plan|apply <dir>`: the workspace as a directory of files (docs/gitops.md). The control plane
 * reads, plans and applies them (`/workspace_files`); the CLI reads and writes the directory and gives apply the values
 * of the references the files name (`${env:NAME}`, `${secret:NAME}`), from a values file or the environment. No
 * value is ever written to disk.
 */

/** The folders an export writes (and cleans of files the workspace no longer has), and its files at the root. */
const folders = [
  'access-policies',
  'api-keys',
  'connector-instances',
  'connectors',
  'deployments',
  'external-mcp-servers',
  'external-users',
  'guardrails',
  'mcp-servers',
  'quotas',
];
const secretsFile = 'secrets.yaml';
const rootFiles = [secretsFile, 'role-mappings.yaml', 'session.yaml'];

/** Exit code of `plan` (and `apply --detailed-exitcode` style CI checks) when something would change. */
const changesPending = 2;

function readDirectory(dir: string): WorkspaceFile[] {
  return documentFiles(dir).map((file) => ({
    path: relative(dir, file).split(sep).join('/'),
    content: readText(file),
  }));
}

/** `NAME=value` lines (blank lines and `#` comments skipped). */
function readValuesFile(file: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const [i, raw] of readText(file).split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw invalidInput(`${file}:${i + 1}: not a NAME=value line`);
    values.set(line.slice(0, eq).trim(), line.slice(eq + 1));
  }
  return values;
}

/** The value of each reference the files name that the values file or the environment has (`env:NAME` → value). */
function referenceValues(files: WorkspaceFile[], valuesFile: string | undefined): Record<string, string> {
  const given = valuesFile ? readValuesFile(valuesFile) : new Map<string, string>();
  const names = new Set<string>();
  for (const f of files)
    for (const m of f.content.matchAll(/\$\{(env|secret):([A-Za-z0-9_][A-Za-z0-9_./-]*)\}/g))
      names.add(`${m[1]}:${m[2]}`);
  // A workspace secret listed in secrets.yaml is written from `secret:NAME` too.
  for (const f of files.filter((f) => f.path === secretsFile))
    for (const m of f.content.matchAll(/^\s*-\s*["']?([A-Za-z0-9_][A-Za-z0-9_./-]*)["']?\s*$/gm))
      names.add(`secret:${m[1]}`);
  const out: Record<string, string> = {};
  for (const ref of [...names].sort()) {
    const name = ref.slice(ref.indexOf(':') + 1);
    const value = given.get(name) ?? process.env[name];
    if (value !== undefined && value !== '') out[ref] = value;
  }
  return out;
}

/** A 422's problems (`<file>#<pointer>`) placed at file:line:column in the directory. */
function located(err: unknown, dir: string, files: WorkspaceFile[]): unknown {
  if (!(err instanceof CliError) || err.issues.length === 0) return err;
  const issues = err.issues.map((issue) => {
    const hash = issue.path.indexOf('#');
    const file = files.find((f) => f.path === issue.path.slice(0, hash));
    if (hash < 0 || !file) return issue;
    const [placed] = locateIssues(join(dir, file.path), file.content, [
      { path: issue.path.slice(hash + 1), message: issue.message },
    ]);
    return { ...issue, location: placed!.location };
  });
  return new CliError(err.message, err.exitCode, { status: err.status, code: err.code, issues });
}

type Change = WorkspacePlan['changes'][number];

const marks: Record<string, string> = { create: '+', update: '~', delete: '-', unchanged: '=', unmanaged: '?' };

function changeLine(out: Output, c: Change): string {
  const what = `${marks[c.action]} ${c.action} ${c.kind.replaceAll('_', ' ')} ${c.name} (${c.file})`;
  // Adopting a resource that matches its file changes nothing in the workspace: said so, dimmed.
  if (c.action === 'update' && c.fields.every((f) => f === 'managed'))
    return out.dim(
      `= adopt ${c.kind.replaceAll('_', ' ')} ${c.name} (${c.file}): matches its file, not yet managed by files`,
    );
  const base = c.action === 'update' ? `${what}: ${c.fields.join(', ')}` : what;
  // Four eyes on loosening (ADR 0079): plan says which changes loosen a rule, and which fields.
  const line = c.loosens ? `${base} [loosens: ${(c.loosenedFields ?? []).join(', ')}]` : base;
  if (c.action === 'create') return out.green(line);
  if (c.action === 'delete') return out.red(line);
  return c.action === 'update' ? line : out.dim(line);
}

const pending = (p: Pick<WorkspacePlan, 'summary'>) => p.summary.create + p.summary.update + p.summary.delete;
const adopting = (s: WorkspacePlan['summary']) =>
  s.adopt > 0 ? `${s.adopt} matching and not yet managed by files (apply adopts them), ` : '';

function planLines(out: Output, plan: WorkspacePlan): string[] {
  const { summary: s } = plan;
  return [
    ...plan.changes.map((c) => changeLine(out, c)),
    pending(plan) === 0
      ? `No changes: the workspace matches the files (${s.unchanged} unchanged, ${adopting(s)}${s.unmanaged} not in the files).`
      : `Plan: ${s.create} to create, ${s.update} to update, ${s.delete} to delete (${s.unchanged} unchanged, ${s.unmanaged} not in the files).`,
  ];
}

async function planOf(api: Api, dir: string, opts: Record<string, unknown>) {
  const files = readDirectory(dir);
  const values = referenceValues(files, opts.values as string | undefined);
  try {
    const plan = await api.planWorkspaceFiles({ files, prune: opts.prune === true, provided: Object.keys(values) });
    return { files, values, plan };
  } catch (err) {
    throw located(err, dir, files);
  }
}

/** Removes the files of an earlier export the workspace no longer has (only in the workspace's own folders). */
function removeStale(dir: string, keep: Set<string>): void {
  for (const folder of folders) {
    let names: string[];
    try {
      names = readdirSync(join(dir, folder));
    } catch {
      continue;
    }
    for (const name of names)
      if (/\.(ya?ml|json)$/.test(name) && !keep.has(`${folder}/${name}`)) rmSync(join(dir, folder, name));
  }
  for (const file of rootFiles) if (!keep.has(file)) rmSync(join(dir, file), { force: true });
}

async function exportTo(ctx: Context, dir: string): Promise<void> {
  const files = await ctx.api().exportWorkspaceFiles();
  for (const f of files) {
    const path = join(dir, ...f.path.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.content);
  }
  removeStale(dir, new Set(files.map((f) => f.path)));
  ctx.out.result({ dir, files: files.map((f) => f.path) }, () => [`exported ${files.length} files to ${dir}`]);
}

function applyLines(out: Output, result: WorkspaceApplyResult, revealKeys: boolean): string[] {
  const lines = result.applied.map((c) => `applied: ${changeLine(out, c)}`);
  if (result.failed) {
    const p = result.failed.problem;
    lines.push(out.red(`failed: ${changeLine(out, result.failed)}: ${p.detail} (HTTP ${p.status}, ${p.code})`));
    lines.push(...(p.errors ?? []).map((e) => `  ${e.path}: ${e.message}`));
    lines.push(...result.notApplied.map((c) => `not applied: ${changeLine(out, c)}`));
    lines.push('Apply the same files again to finish: what was applied is found by name.');
  }
  if (result.waiting) {
    const id = result.waiting.changeRequest.id;
    lines.push(out.red(`waits for approval ${id}: ${changeLine(out, result.waiting)} loosens a rule`));
    const { name, key } = result.waiting;
    if (key !== undefined)
      lines.push(
        revealKeys
          ? `api key ${name}: ${key} (shown once; it works once approved)`
          : `api key ${name} waits for approval; --reveal-keys prints its value (shown once)`,
      );
    lines.push(...result.notApplied.map((c) => `not applied: ${changeLine(out, c)}`));
    lines.push(`Another approver approves it (POST /change_requests/${id}/approve); then apply the same files again.`);
  }
  for (const k of result.createdKeys)
    lines.push(
      revealKeys
        ? `api key ${k.name}: ${k.key} (shown once)`
        : `api key ${k.name} created (${k.id}); --reveal-keys prints new keys' values`,
    );
  if (!result.failed && !result.waiting) lines.push(`Applied: ${result.applied.length} changes.`);
  return lines;
}

async function apply(ctx: Context, dir: string, opts: Record<string, unknown>): Promise<void> {
  const api = ctx.api();
  const { files, values, plan } = await planOf(api, dir, opts);
  if (pending(plan) === 0 && plan.summary.adopt === 0) {
    ctx.out.result({ outcome: 'unchanged', ...plan }, () => planLines(ctx.out, plan).slice(-1));
    return;
  }
  let result: WorkspaceApplyResult;
  try {
    result = await api.applyWorkspaceFiles({ files, prune: opts.prune === true, values });
  } catch (err) {
    throw located(err, dir, files);
  }
  const revealKeys = opts.revealKeys === true;
  const shown = revealKeys ? result : { ...result, createdKeys: result.createdKeys.map(({ key: _key, ...k }) => k) };
  ctx.out.result(shown, () => applyLines(ctx.out, result, revealKeys));
  if (result.failed) process.exitCode = exitCodeForStatus(result.failed.problem.status);
  else if (result.waiting) process.exitCode = changesPending;
}

function directoryOptions(command: Command): Command {
  return withJson(
    command
      .option('--prune', 'delete what the workspace has and no file names (the calling key is never deleted)')
      .option('--values <file>', 'NAME=value lines for ${env:NAME} and ${secret:NAME} (else the environment)'),
  );
}

export function workspaceFilesCommands(program: Command): void {
  withJson(
    program
      .command('export')
      .description('write the workspace as a directory of YAML files, one per resource (docs/gitops.md)')
      .argument('<dir>', 'the directory (created; files the workspace no longer has are removed)'),
  ).action(action(async (ctx, [dir]) => exportTo(ctx, dir!)));
  directoryOptions(
    program
      .command('plan')
      .description('what apply would change; exit 0 when nothing, 2 when something would')
      .argument('<dir>', 'a directory of workspace files'),
  ).action(
    action(async (ctx, [dir], opts) => {
      const { plan } = await planOf(ctx.api(), dir!, opts);
      ctx.out.result(plan, () => planLines(ctx.out, plan));
      if (pending(plan) > 0) process.exitCode = changesPending;
    }),
  );
  directoryOptions(
    program
      .command('apply')
      .description('make the workspace match a directory of workspace files')
      .argument('<dir>', 'a directory of workspace files')
      .option('--reveal-keys', 'print the values of API keys apply creates (shown once)'),
  ).action(action(async (ctx, [dir], opts) => apply(ctx, dir!, opts)));
}
