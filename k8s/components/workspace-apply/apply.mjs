// Applies a directory of workspace files (docs/gitops.md) from a ConfigMap: `__` in a key is `/` in the file's path.
// The same operation as `toolplane apply`: the control plane plans, validates and applies; this script only reads the
// files, gives the values of the references they name (from the environment), and reports. Exit 0 when applied (or
// nothing to change), 1 otherwise, with the problems on stderr.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '/workspace';
const { TOOLPLANE_URL: url, TOOLPLANE_API_KEY: key, WORKSPACE_PRUNE: prune } = process.env;
if (!url || !key) throw new Error('TOOLPLANE_URL and TOOLPLANE_API_KEY are required');

// A ConfigMap volume holds each key as a file, besides its own `..data` links (skipped).
const files = readdirSync(dir)
  .filter((name) => !name.startsWith('.') && /\.(ya?ml|json)$/.test(name))
  .sort()
  .map((name) => ({ path: name.replaceAll('__', '/'), content: readFileSync(join(dir, name), 'utf8') }));

const values = {};
for (const f of files)
  for (const m of f.content.matchAll(/\$\{(env|secret):([A-Za-z0-9_][A-Za-z0-9_./-]*)\}/g))
    if (process.env[m[2]]) values[`${m[1]}:${m[2]}`] = process.env[m[2]];
for (const m of (files.find((f) => f.path === 'secrets.yaml')?.content ?? '').matchAll(
  /^\s*-\s*["']?([A-Za-z0-9_][A-Za-z0-9_./-]*)["']?\s*$/gm,
))
  if (process.env[m[1]]) values[`secret:${m[1]}`] = process.env[m[1]];

/** POSTs to a workspace-files operation; a refusal (every problem with its file and path) ends the Job. */
async function post(operation, payload) {
  const response = await fetch(`${url.replace(/\/+$/, '')}/api/v1/workspace_files/${operation}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify(payload),
  });
  const answer = await response.json();
  if (!response.ok) {
    console.error(`${operation} refused: ${answer.detail} (HTTP ${response.status}, ${answer.code})`);
    for (const e of answer.errors ?? []) console.error(`  ${e.path}: ${e.message}`);
    process.exit(1);
  }
  return answer;
}

// The plan first (it records nothing): files the workspace already matches are not applied, so a Job that runs on
// every sync leaves no trace when nothing changed, as `toolplane apply` does.
const plan = await post('plan', { files, prune: prune === 'true', provided: Object.keys(values) });
const { create, update, delete: removed, unchanged } = plan.summary;
if (create + update + removed === 0) {
  console.log(`nothing to change (${unchanged} unchanged)`);
  process.exit(0);
}
const body = await post('apply', { files, prune: prune === 'true', values });
for (const c of body.applied) console.log(`applied: ${c.action} ${c.kind} ${c.name} ${c.fields.join(',')}`);
if (body.outcome !== 'applied') {
  const p = body.failed.problem;
  console.error(
    `failed: ${body.failed.action} ${body.failed.kind} ${body.failed.name}: ${p.detail} (HTTP ${p.status})`,
  );
  for (const c of body.notApplied) console.error(`not applied: ${c.action} ${c.kind} ${c.name}`);
  process.exit(1);
}
console.log(`applied ${body.applied.length} changes (${body.summary.unchanged} unchanged)`);
