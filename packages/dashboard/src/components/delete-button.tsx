import { ConfirmButton } from '../ui.tsx';

/**
 * Delete (or another `verb` of the kind: Revoke) `name`, behind `ConfirmButton`'s confirmation: "Delete {name}?
 * {then}", confirmed by "Delete {name}". Nothing for a caller who may only read the area it is in.
 */
export function DeleteButton({
  verb = 'Delete',
  name,
  then,
  busy,
  onConfirm,
}: {
  verb?: string;
  name: string;
  /** What follows, said after the question. */
  then?: string;
  busy: boolean;
  onConfirm: () => void;
}) {
  return (
    <ConfirmButton
      label={verb}
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
  'verb' | 'then'
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
