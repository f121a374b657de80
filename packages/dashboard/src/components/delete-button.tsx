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
