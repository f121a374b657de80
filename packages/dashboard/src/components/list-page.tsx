import type { ReactNode } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { Writable } from '../powers.tsx';
import { ErrorBox, useLoad, useRowAction } from '../ui.tsx';
import { Section } from './section.tsx';

/** The workspace's servers (the first 100), for the pickers and names of a list's rows. */
export const serverList = (client: ManagementClient) =>
  unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } }));

/** Several lists at once: each answer's `data`, by the name its call has in `calls`. */
async function listsOf<C extends Record<string, Promise<{ data: unknown }>>>(
  calls: C,
): Promise<{ [K in keyof C]: Awaited<C[K]>['data'] }> {
  const entries = await Promise.all(Object.entries(calls).map(async ([k, call]) => [k, (await call).data] as const));
  return Object.fromEntries(entries) as { [K in keyof C]: Awaited<C[K]>['data'] };
}

/** The lists `calls` names, loaded together (`listsOf`) with `client`, and a reload. */
export function useLists<C extends Record<string, Promise<{ data: unknown }>>>(
  client: ManagementClient,
  calls: (client: ManagementClient) => C,
) {
  return useLoad(() => listsOf(calls(client)), [client]);
}

/** What a list page's create form gets: the client, and `onCreated` (a reload of the list) once it created a row. */
export interface CreateFormProps {
  client: ManagementClient;
  onCreated: () => void;
}

/** The parameters of an operation on the resource `id` (`DELETE /quotas/{id}`). */
export const byId = (id: string) => ({ params: { path: { id } } });

/**
 * Deleting (or revoking) a row by its id (`useRowAction`, a `RowDeletion`): `call` then `onDone` (a reload of the
 * list); `deleting` is the row being deleted, `error` why the last one failed.
 */
export function useRowDelete(call: (id: string) => Promise<unknown>, onDone: () => void) {
  const { pending, error, run } = useRowAction();
  return { deleting: pending, error, onDelete: (id: string) => run(id, () => call(id), onDone) };
}

/**
 * A list page's body: its create (or edit) form, only for those who may change the area (`Writable`), `between` it
 * and the list (what the form did), then the list under its heading (`Section`) with why the last row action failed
 * (`failure`, titled `failed`), if its rows have actions.
 */
export function FormAndList({
  form,
  between,
  section,
  failure,
  children,
}: {
  form: ReactNode;
  between?: ReactNode;
  section: { id: string; title: ReactNode; failed?: string };
  failure?: unknown;
  children: ReactNode;
}) {
  return (
    <>
      <Writable>{form}</Writable>
      {between}
      <Section id={section.id} title={section.title}>
        {failure !== undefined && failure !== null && <ErrorBox error={failure} title={section.failed} />}
        {children}
      </Section>
    </>
  );
}
