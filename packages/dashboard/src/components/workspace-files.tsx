import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { useLoad } from '../ui.tsx';
import { useAction } from './action.ts';
import { ActionError } from './form.tsx';

/** One 512-byte ustar header: fixed fields, octal numbers, mtime 0 (an unchanged workspace: the same archive). */
function tarHeader(path: string, size: number): Uint8Array {
  const h = new Uint8Array(512);
  const put = (text: string, at: number, len: number) => h.set(new TextEncoder().encode(text).slice(0, len), at);
  const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, '0');
  const cut = path.length > 100 ? path.lastIndexOf('/', 155) : -1;
  put(cut > 0 ? path.slice(cut + 1) : path, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12);
  put('        ', 148, 8);
  put('0', 156, 1);
  put('ustar\u000000', 257, 8);
  if (cut > 0) put(path.slice(0, cut), 345, 155);
  put(
    `${octal(
      h.reduce((a, b) => a + b, 0),
      7,
    )}\u0000`,
    148,
    8,
  );
  return h;
}

/** The files as a tar archive: `tar xf` gives the directory `toolplane plan` and `apply` read (docs/gitops.md). */
function tarOf(files: { path: string; content: string }[]): Blob {
  const parts: Uint8Array[] = [];
  for (const f of files) {
    const body = new TextEncoder().encode(f.content);
    parts.push(tarHeader(f.path, body.length), body, new Uint8Array((512 - (body.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return new Blob(parts as BlobPart[], { type: 'application/x-tar' });
}

/** The workspace-level Export: `GET /workspace_files` saved as `workspace.tar`. */
export function ExportButton({ client }: { client: ManagementClient }) {
  const action = useAction();
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
  return (
    <>
      <button type="button" className="button" onClick={run} disabled={action.busy}>
        {action.busy ? 'Exporting…' : 'Export as files'}
      </button>
      <ActionError action={action} title="Not exported" />
    </>
  );
}

/** `kind/name` of every resource a directory of workspace files manages (set by apply). */
export function useManaged(client: ManagementClient): Set<string> {
  const [managed] = useLoad(() => unwrap(client.GET('/workspace_files/managed')), [client]);
  return new Set(managed.state === 'done' ? managed.data.data.map((m) => `${m.kind}/${m.name}`) : []);
}

/** Said of a resource apply manages: a change made here is undone by the next apply of the files. */
export function ManagedMarker({ managed }: { managed: boolean }) {
  return managed ? (
    <span title="Managed by workspace files: the next apply of the files overrides a change made here">files</span>
  ) : null;
}
