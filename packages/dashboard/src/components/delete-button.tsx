import { useState } from 'react';
import { ConfirmButton, type Loaded } from '../ui.tsx';

/**
 * Delete (or another `verb` of the kind: Revoke) `name`, behind `ConfirmButton`'s confirmation: "Delete {name}?
 * {then}", confirmed by "Delete {name}"; the button says `label` (the verb unless given). Nothing for a caller who may
 * only read the area it is in.
 */
export function DeleteButton({
  verb = 'Delete',
  label = verb,
  name,
  then,
  busy,
  onConfirm,
}: {
  verb?: string;
  label?: string;
  name: string;
  /** What follows, said after the question. */
  then?: string;
  busy: boolean;
  onConfirm: () => void;
}) {
  return (
    <ConfirmButton
      label={label}
      name={name}
      question={then ? `${verb} ${name}? ${then}` : `${verb} ${name}?`}
      confirmLabel={`${verb} ${name}`}
      busy={busy}
      onConfirm={onConfirm}
    />
  );
}

/** A list's deletions by row id (`useRowDelete`): the row being deleted, and how to delete one. */
export interface RowDeletion {
  deleting: string | null;
  onDelete: (id: string) => void;
}

/** `DeleteButton` on a row of a list that deletes by id (`deletion`). */
export function RowDeleteButton({
  row,
  deletion,
  ...rest
}: { row: { id: string; name: string }; deletion: RowDeletion } & Pick<
  Parameters<typeof DeleteButton>[0],
  'verb' | 'label' | 'then'
>) {
  return (
    <DeleteButton
      {...rest}
      name={row.name}
      busy={deletion.deleting === row.id}
      onConfirm={() => deletion.onDelete(row.id)}
    />
  );
}

/** Which row of `list` is open in its edit form (one at a time): its id, and the row once the list is loaded. */
export function useEditedRow<R extends { id: string }>(list: Loaded<R[]>) {
  const [editing, setEditing] = useState<string | null>(null);
  const edited = list.state === 'done' ? list.data.find((r) => r.id === editing) : undefined;
  return { editing, setEditing, edited };
}

/**
 * A row's Change button, opening its edit form below the list (`editing`, or closing it when open), and its
 * `RowDeleteButton`.
 */
export function ChangeAndDelete({
  row,
  editing,
  onEditing,
  ...remove
}: {
  row: { id: string; name: string };
  editing: string | null;
  onEditing: (id: string | null) => void;
} & Omit<Parameters<typeof RowDeleteButton>[0], 'row'>) {
  return (
    <>
      <button
        type="button"
        className="secondary"
        aria-label={`Change ${row.name}`}
        aria-expanded={editing === row.id}
        onClick={() => onEditing(editing === row.id ? null : row.id)}
      >
        Change
      </button>{' '}
      <RowDeleteButton row={row} {...remove} />
    </>
  );
}
