import { UserError, ValidationError } from '@toolplane/errors';
import {
  fileProblem,
  run,
  type DesiredResource,
  type FileRead,
  type WorkspaceFileKind,
} from '../workspace-files/kind.ts';
import { connectorText } from '../workspace-files/connector-files.ts';
import { connectorsOperations } from './operations.ts';
import { readConnectorSource } from './sources.ts';

/** A connector's file, read exactly as an upload: named by its slug and version. */
async function readConnector({ file, value, parsed, fetchDocument, problems }: FileRead): Promise<DesiredResource[]> {
  if (!parsed) return [];
  try {
    const source = await readConnectorSource(file.content, fetchDocument, value);
    const name = `${source.slug}@${source.version}`;
    return [{ kind: 'connector', name, file: file.path, spec: {}, connector: { ...source, text: file.content } }];
  } catch (err) {
    if (err instanceof ValidationError)
      problems.push(...err.issues.map((i) => fileProblem(file.path, i.path, i.message)));
    else if (err instanceof UserError) problems.push(fileProblem(file.path, '', err.message));
    else throw err;
    return [];
  }
}

/**
 * Connectors (`connectors/<slug>@<version>.yaml` or `.json`): the document itself, as uploaded (read exactly as an
 * upload), named by its slug and version.
 */
export const connectorFiles: WorkspaceFileKind = {
  kind: 'connector',
  dir: 'connectors',
  read: readConnector,
  async live({ deps, workspaceId, marker }) {
    const rows = await deps.db.connector.findMany({
      where: { workspaceId },
      orderBy: [{ slug: 'asc' }, { version: 'asc' }],
    });
    return rows.map((r) => {
      const name = `${r.slug}@${r.version}`;
      const connector = { kind: r.kind, descriptor: r.descriptor, document: r.document, ...connectorText(r) };
      return { kind: 'connector', name, id: r.id, spec: {}, marker: marker('connector', name), connector };
    });
  },
  write(c) {
    const text = c.desired!.connector!.text;
    if (c.action === 'create') return run(connectorsOperations, 'pushConnector', { body: text });
    if (!c.fields.includes('document')) return undefined;
    return run(connectorsOperations, 'updateConnector', { params: { id: c.live!.id }, body: text });
  },
  remove: (c) => run(connectorsOperations, 'deleteConnector', { params: { id: c.live!.id } }),
};
