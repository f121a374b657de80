import { workspaceFileKinds } from '../workspace-file-kinds.ts';
import type { Kind, WorkspaceFileKind } from './kind.ts';

/**
 * The files of a workspace directory (ADR 0042, docs/gitops.md): one file per resource, its kind given by its folder,
 * its identity by its name (never an id). Secret values never appear: a credential or header is a reference,
 * `${env:NAME}` (the applying process's environment or values file) or `${secret:NAME}` (a workspace secret's value,
 * given to the apply under that name). Each kind is declared in its resource's folder (`<name>/workspace-file.ts`:
 * its folder, the schema of its files, its live reader and steps) and listed in `../workspace-file-kinds.ts`.
 */

/** The kinds, in the order apply creates and updates them (deletions: the reverse): what a resource names must exist before it. */
export const kinds = workspaceFileKinds;

/** The declaration of `kind`. */
export function kindOf(kind: Kind): WorkspaceFileKind {
  const declared = kinds.find((k) => k.kind === kind);
  if (!declared) throw new Error(`no workspace file kind ${kind}`);
  return declared;
}

/** A name as a file name: what a file system and a URL take as is; anything else as `%XX` (stable and unique). */
function fileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._@-]/g, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

/** The file of the resource of `kind` named `name`: its folder's `<name>.<ext>`, or the kind's one file. */
export function fileOf(kind: Kind, name: string, ext = 'yaml'): string {
  const declared = kindOf(kind);
  return declared.file ?? `${declared.dir}/${fileName(name)}.${ext}`;
}
