import { useRef, useState } from 'react';
import { ActionButton, ConfirmButton } from '../ui.tsx';

/**
 * A secret form's name and value (write-only) and its value input; `rotate(name)` puts a listed secret's name in the
 * form and the focus on the value, `clear()` empties the form once the store has the value.
 */
export function useSecretDraft() {
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const valueRef = useRef<HTMLInputElement>(null);
  const rotate = (secret: string) => {
    setName(secret);
    valueRef.current?.focus();
  };
  const clear = () => {
    setName('');
    setValue('');
  };
  return { name, setName, value, setValue, valueRef, rotate, clear };
}

/** What `useSecretDraft` gives a secret form. */
export type SecretDraft = ReturnType<typeof useSecretDraft>;

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
