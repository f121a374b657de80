import { ActionButton, ConfirmButton } from '../ui.tsx';

/** A secret's row actions: Rotate (its name into the form, the focus on the value) and Delete (confirmed). */
export function SecretActions({
  name,
  question,
  busy,
  onRotate,
  onDelete,
}: {
  name: string;
  question: string;
  busy: boolean;
  onRotate: () => void;
  onDelete: () => void;
}) {
  return (
    <>
      <ActionButton className="secondary" aria-label={`Rotate ${name}`} onClick={onRotate}>
        Rotate
      </ActionButton>{' '}
      <ConfirmButton
        label="Delete"
        name={name}
        question={question}
        confirmLabel={`Delete ${name}`}
        busy={busy}
        onConfirm={onDelete}
      />
    </>
  );
}
