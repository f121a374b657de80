import { ActionButton } from '../ui.tsx';

const capitalised = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * The two decisions on one item (approve or deny a call, accept or reject a change): the first, then the second (a
 * danger), each button labelled with its decision ("Approve") and named for screen readers with `label` ("Approve
 * {label}"). Nothing for a caller who may only read the area (`ActionButton`).
 */
export function DecisionButtons<D extends string>({
  decisions: [yes, no],
  label,
  busy,
  onDecide,
}: {
  decisions: readonly [D, D];
  label: string;
  busy: boolean;
  onDecide: (decision: D) => void;
}) {
  return (
    <>
      <ActionButton disabled={busy} onClick={() => onDecide(yes)} aria-label={`${capitalised(yes)} ${label}`}>
        {capitalised(yes)}
      </ActionButton>{' '}
      <ActionButton
        className="danger"
        disabled={busy}
        onClick={() => onDecide(no)}
        aria-label={`${capitalised(no)} ${label}`}
      >
        {capitalised(no)}
      </ActionButton>
    </>
  );
}
