import { useState, type ReactNode } from 'react';
import { Writable } from '../powers.tsx';
import { useAction } from './action.ts';
import { DecisionButtons } from './decision-buttons.tsx';
import { AddressSelect } from './filters.tsx';
import { ActionError, Success, TextField } from './form.tsx';

/** Who asked for something or decided it (an approval request's, a change request's). */
export interface Party {
  type: string;
  id: string | null;
  name: string | null;
}

type Decision = 'approve' | 'deny';

const partyKinds: Record<string, string> = {
  api_key: 'API key',
  oauth_subject: 'user',
  person: 'person',
  system: 'Toolplane',
};

/** Who requested or decided: an API key by name (or id), a signed-in user by subject, a person. */
export function partyText(p: Party): string {
  return `${partyKinds[p.type] ?? p.type} ${p.name ?? p.id ?? '—'}`;
}

/** The decisions so far, each with its comment. */
export function DecisionList({
  decisions,
}: {
  decisions: readonly { approver: Party; decision: Decision; comment: string | null; at: string }[];
}) {
  return (
    <ul className="decisions">
      {decisions.map((d) => (
        <li key={`${d.approver.type} ${d.approver.id ?? ''} ${d.at}`}>
          {d.decision === 'approve' ? 'Approved' : 'Denied'} by {partyText(d.approver)}
          {d.comment ? `: ${d.comment}` : ''}
        </li>
      ))}
    </ul>
  );
}

/**
 * Approve or deny one request with an optional comment, while it is `open` and for a caller who may change the area:
 * `send` takes the decision and its body, `then` gets the decided request and says what happened; a refusal (not an
 * approver, decided already, expired) is shown under the buttons. `children` follow the buttons.
 */
export function DecideForm<R>({
  open,
  comment: { id, label: commentLabel },
  label,
  send,
  then,
  children,
}: {
  open: boolean;
  comment: { id: string; label: string };
  /** What is decided, for the buttons' accessible names ("Approve {label}"). */
  label: string;
  send: (how: Decision, body: { comment?: string }) => Promise<R>;
  then: (decided: R, how: Decision) => string;
  children?: ReactNode;
}) {
  const [comment, setComment] = useState('');
  const action = useAction();
  const decide = (how: Decision) => {
    const body = comment.trim() ? { comment: comment.trim() } : {};
    action.run(() => send(how, body), {
      then: (decided) => then(decided, how),
      failed: how === 'approve' ? 'Not approved' : 'Not denied',
    });
  };
  return (
    <>
      {open && (
        <Writable>
          <TextField id={id} label={commentLabel} value={comment} onValue={setComment} maxLength={1000} />
          <DecisionButtons decisions={['approve', 'deny']} label={label} busy={action.busy} onDecide={decide} />
          {children}
        </Writable>
      )}
      <ActionError action={action} title="Not decided" />
      <Success>{action.done}</Success>
    </>
  );
}

/** The state filter in the address (`?state=`): pending (the first of `states`) unless it says another, or `all`. */
export function stateOf<S extends string>(query: URLSearchParams, states: readonly [S, ...S[]]): S | 'all' {
  const s = query.get('state') ?? states[0];
  return s === 'all' || states.includes(s as S) ? (s as S | 'all') : states[0];
}

/** The query of a list by state: the first 100, of `state` unless it is `all`. */
export const stateQuery = <S extends string>(state: S | 'all') => ({
  limit: 100,
  ...(state === 'all' ? {} : { state: state as S }),
});

/** A requests list's state filter (pending: the page's own address `path`) and its Refresh button. */
export function StateFilter({
  id,
  path,
  states,
  value,
  onRefresh,
}: {
  id: string;
  path: string;
  states: readonly string[];
  value: string;
  onRefresh: () => void;
}) {
  return (
    <div className="filters">
      <AddressSelect
        id={id}
        label="State"
        path={path}
        param="state"
        none="pending"
        value={value}
        options={[...states.map((s) => ({ value: s, label: s })), { value: 'all', label: 'all' }]}
      />
      <button type="button" className="secondary" onClick={onRefresh}>
        Refresh
      </button>
    </div>
  );
}
