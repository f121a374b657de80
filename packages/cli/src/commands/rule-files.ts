import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { usageError } from './errors.ts';

/**
 * Proposed rules as the backtest and change impact take them (`rules backtest --file`, `rules reach --change`):
 * workspace files in `access-policies/`, `quotas/`, `guardrails/`, `mcp-servers/`, and `session.yaml`.
 */

const folders = ['access-policies', 'quotas', 'guardrails', 'mcp-servers'];

/** A rule's file as the backtest and change impact take it: `<its folder>/<its name>` (`session.yaml` as it is). */
export function fileOf(path: string): { path: string; content: string } {
  const folder = basename(dirname(path));
  if (basename(path) === 'session.yaml' && !folders.includes(folder))
    return { path: 'session.yaml', content: readFileSync(path, 'utf8') };
  if (!folders.includes(folder))
    throw usageError(`--file ${path}: a rule's file lives in a folder named ${folders.join(', ')}`);
  return { path: `${folder}/${basename(path)}`, content: readFileSync(path, 'utf8') };
}
