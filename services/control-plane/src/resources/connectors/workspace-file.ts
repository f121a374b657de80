import { connectorText } from '../workspace-files/connector-files.ts';
import { run, type WorkspaceFileKind } from '../workspace-files/kind.ts';
import { connectorsOperations } from './operations.ts';

/**
 * Connectors (`connectors/<slug>@<version>.yaml` or `.json`): the document itself, as uploaded (read by read-files.ts
 * exactly as an upload), named by its slug and version.
 */
export const connectorFiles: WorkspaceFileKind = {
  kind: 'connector',
  dir: 'connectors',
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
