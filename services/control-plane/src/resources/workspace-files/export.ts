import { stringify } from 'yaml';
import type { LiveState } from './live.ts';
import type { WorkspaceFile } from './read-files.ts';
import { fileOf } from './specs.ts';

const yaml = (value: unknown) => stringify(value, { lineWidth: 0 });

/**
 * The workspace as files (docs/gitops.md): one per resource, names instead of ids, references instead of secret
 * values, no timestamps, every list in a fixed order: an unchanged workspace exports byte for byte the same.
 */
export function exportFiles(live: LiveState): WorkspaceFile[] {
  const files: WorkspaceFile[] = [];
  const secrets = live.resources.filter((r) => r.kind === 'secret').map((r) => r.name);
  if (secrets.length > 0) files.push({ path: fileOf('secret', ''), content: yaml({ secrets: secrets.sort() }) });
  for (const r of live.resources) {
    if (r.kind === 'secret') continue;
    if (r.kind === 'connector')
      files.push({ path: fileOf(r.kind, r.name, r.connector!.ext), content: r.connector!.text });
    else files.push({ path: fileOf(r.kind, r.name), content: yaml(r.spec) });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
