import type { Change, ServerPart, Step, StepContext } from './kind.ts';
import { kindOf } from './specs.ts';

/**
 * The API operation that carries out a change, as its kind declares it (`<name>/workspace-file.ts`: `write`, `remove`;
 * a server's: `part` of it); undefined when only apply's marker changes.
 */
export function stepOf(c: Change, ctx: StepContext, part: ServerPart = 'all'): Step | undefined {
  const kind = kindOf(c.kind);
  return c.action === 'delete' ? kind.remove(c, ctx) : kind.write(c, ctx, part);
}
