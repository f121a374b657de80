import type { ManagementClient } from '@toolplane/client';
import { createTar } from 'nanotar';
import { unwrap } from '../api.ts';
import { useLoad } from '../ui.tsx';
import { useAction } from './action.ts';
import { ActionError } from './form.tsx';
import { useMay } from '../powers.tsx';

/**
 * The files as a tar archive (nanotar): `tar xf` gives the directory `toolplane plan` and `apply` read
 * (docs/gitops.md). Modification times are 0, so an unchanged workspace gives the same archive.
 */
function tarOf(files: { path: string; content: string }[]): Blob {
  const tar = createTar(files.map((f) => ({ name: f.path, data: f.content, attrs: { mtime: 0 } })));
  return new Blob([tar as BlobPart], { type: 'application/x-tar' });
}

/** The workspace-level Export: `GET /workspace_files` saved as `workspace.tar`; for those who may read the files. */
export function ExportButton({ client }: { client: ManagementClient }) {
  const action = useAction();
  const mayRead = useMay('workspace_files', 'read');
  const run = () =>
    action.run(() => unwrap(client.GET('/workspace_files')), {
      then: ({ files }) => {
        const link = document.createElement('a');
        link.href = URL.createObjectURL(tarOf(files));
        link.download = 'workspace.tar';
        link.click();
        URL.revokeObjectURL(link.href);
      },
    });
  if (!mayRead) return null;
  return (
    <>
      <button type="button" className="button" onClick={run} disabled={action.busy}>
        {action.busy ? 'Exporting…' : 'Export as files'}
      </button>
      <ActionError action={action} title="Not exported" />
    </>
  );
}

/**
 * `kind/name` of every resource a directory of workspace files manages (set by apply); none asked for by a caller who
 * may not read the files.
 */
export function useManaged(client: ManagementClient): Set<string> {
  const mayRead = useMay('workspace_files', 'read');
  const [managed] = useLoad(
    () => (mayRead ? unwrap(client.GET('/workspace_files/managed')) : Promise.resolve({ data: [] })),
    [client, mayRead],
  );
  return new Set(managed.state === 'done' ? managed.data.data.map((m) => `${m.kind}/${m.name}`) : []);
}

/** Said of a resource apply manages: a change made here is undone by the next apply of the files. */
export function ManagedMarker({ managed }: { managed: boolean }) {
  return managed ? (
    <span title="Managed by workspace files: the next apply of the files overrides a change made here">files</span>
  ) : null;
}
