import type { InputHTMLAttributes, ReactNode, SelectHTMLAttributes } from 'react';
import { useMayChange } from '../powers.tsx';
import { ApiError, errorMessage } from '../api.ts';
import { bound, ErrorBox } from '../ui.tsx';
import type { Action } from './action.ts';

type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'value' | 'onChange'>;

/**
 * A list's filters in the address: `query` with each of `keys` set to its trimmed text in `form` (removed when
 * empty), or, with `value`, the one filter `keys[0]` set to it (a select applies at once).
 */
export function filterQuery(
  query: URLSearchParams,
  keys: readonly string[],
  form: HTMLFormElement | string,
): URLSearchParams {
  const next = new URLSearchParams(query);
  const data = typeof form === 'string' ? undefined : new FormData(form);
  for (const key of keys) {
    const v = (data ? String(data.get(key) ?? '') : (form as string)).trim();
    if (v) next.set(key, v);
    else next.delete(key);
  }
  return next;
}

/** Wraps a label and its control in a `.field` (filters, inline forms); in a `.form` they stand side by side. */
function Wrap({ inline, children }: { inline?: boolean; children: ReactNode }) {
  return inline ? <div className="field">{children}</div> : <>{children}</>;
}

/** A labelled text input (`onValue` gets the text). */
export function TextField({
  id,
  label,
  value,
  onValue,
  inline,
  ...input
}: { id: string; label: ReactNode; value: string; onValue: (v: string) => void; inline?: boolean } & InputProps) {
  return (
    <Wrap inline={inline}>
      <label htmlFor={id}>{label}</label>
      <input id={id} {...bound(value, onValue)} {...input} />
    </Wrap>
  );
}

/** A required name (of what a form creates or sets): a `TextField` the browser does not fill in. */
export function NameField({
  label = 'Name',
  ...field
}: { id: string; label?: ReactNode; value: string; onValue: (v: string) => void } & Omit<InputProps, 'required'>) {
  return <TextField label={label} required autoComplete="off" {...field} />;
}

/** One choice of a `SelectField`. */
export interface Option {
  value: string;
  label: ReactNode;
}

/** A labelled select of `options` (`onValue` gets the chosen value). */
export function SelectField({
  id,
  label,
  value,
  onValue,
  options,
  inline,
  ...select
}: {
  id: string;
  label: ReactNode;
  value: string;
  onValue: (v: string) => void;
  options: Option[];
  inline?: boolean;
} & Omit<SelectHTMLAttributes<HTMLSelectElement>, 'id' | 'value' | 'onChange'>) {
  return (
    <Wrap inline={inline}>
      <label htmlFor={id}>{label}</label>
      <select id={id} {...bound(value, onValue)} {...select}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </Wrap>
  );
}

/** A labelled text area for a document (monospaced, no spell checking). */
export function CodeArea({
  id,
  label,
  value,
  onValue,
  rows,
}: {
  id: string;
  label: ReactNode;
  value: string;
  onValue: (v: string) => void;
  rows: number;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <textarea id={id} className="code" rows={rows} spellCheck={false} {...bound(value, onValue)} />
    </>
  );
}

/**
 * The form's submit button: "{busyLabel}" while its action runs. A form that changes the workspace has none for a
 * caller who may only read the area it is in (`powers.tsx`); `changes={false}`: a form that only reads (a search).
 */
export function SubmitButton({
  busy,
  disabled = false,
  busyLabel,
  changes = true,
  children,
}: {
  busy: boolean;
  disabled?: boolean;
  busyLabel: string;
  changes?: boolean;
  children: ReactNode;
}) {
  const may = useMayChange();
  if (changes && !may) return null;
  return (
    <button type="submit" disabled={busy || disabled}>
      {busy ? busyLabel : children}
    </button>
  );
}

/** What an action did (a status), when it says something. */
export function Success({ children }: { children: ReactNode }) {
  if (children === null || children === undefined || children === '' || children === false) return null;
  return (
    <p className="success" role="status">
      {children}
    </p>
  );
}

/** An action's failure (an alert), titled by the action (`run`'s `failed`) or else `title`. */
export function ActionError({ action, title }: { action: Action; title: string }) {
  if (action.error === null) return null;
  return <ErrorBox error={action.error} title={action.failed || title} />;
}

/** `list` with `item` in it (`on`) or not. */
export function toggled<T>(list: readonly T[], item: T, on: boolean): T[] {
  return on ? [...list, item] : list.filter((x) => x !== item);
}

/** A copy of `set` with `item` in it (`on`) or not. */
export function toggledSet<T>(set: ReadonlySet<T>, item: T, on: boolean): Set<T> {
  const next = new Set(set);
  if (on) next.add(item);
  else next.delete(item);
  return next;
}

/** A labelled checkbox (`onValue` gets whether it is checked), its box before its label. */
export function CheckField({
  id,
  label,
  checked,
  onValue,
}: {
  id: string;
  label: ReactNode;
  checked: boolean;
  onValue: (on: boolean) => void;
}) {
  return (
    <span>
      <input type="checkbox" id={id} checked={checked} onChange={(e) => onValue(e.target.checked)} />
      <label htmlFor={id}>{label}</label>
    </span>
  );
}

/** A row of checkboxes (`.checks`), one per item; `children` come first (an "all" box). */
export function Checks<T>({
  items,
  idOf,
  labelOf,
  checked,
  onToggle,
  children,
}: {
  items: readonly T[];
  idOf: (item: T) => string;
  labelOf: (item: T) => ReactNode;
  checked: (item: T) => boolean;
  onToggle: (item: T, on: boolean) => void;
  children?: ReactNode;
}) {
  return (
    <div className="checks">
      {children}
      {items.map((item) => (
        <CheckField
          key={idOf(item)}
          id={idOf(item)}
          label={labelOf(item)}
          checked={checked(item)}
          onValue={(on) => onToggle(item, on)}
        />
      ))}
    </div>
  );
}

/** What an action did (a status) or why it failed (an alert), in one place. */
export function ActionOutcome({ action, title }: { action: Action; title: string }) {
  return (
    <>
      <ActionError action={action} title={title} />
      <Success>{action.done}</Success>
    </>
  );
}

/**
 * Rows of fields in `.inline-form`s (headers, overrides), each with a Remove button (`canRemove`), and a button
 * adding one.
 */
export function InlineRows<R extends { key: number }>({
  rows,
  fields,
  removeLabel,
  canRemove = true,
  onRemove,
  addLabel,
  onAdd,
}: {
  rows: readonly R[];
  fields: (row: R, index: number) => ReactNode;
  removeLabel: (row: R, index: number) => string;
  canRemove?: boolean;
  onRemove: (row: R) => void;
  addLabel: string;
  onAdd: () => void;
}) {
  return (
    <>
      {rows.map((r, i) => (
        <div className="inline-form" key={r.key}>
          {fields(r, i)}
          {canRemove && (
            <button type="button" className="secondary" aria-label={removeLabel(r, i)} onClick={() => onRemove(r)}>
              Remove
            </button>
          )}
        </div>
      ))}
      <div>
        <button type="button" className="secondary" onClick={onAdd}>
          {addLabel}
        </button>
      </div>
    </>
  );
}

/** A form's last lines: why its action failed (`failed` unless the action says), then its `SubmitButton`. */
export function FormEnd({
  action,
  failed,
  disabled,
  busyLabel,
  children,
}: {
  action: Action;
  failed: string;
  disabled?: boolean;
  busyLabel: string;
  children: ReactNode;
}) {
  return (
    <>
      <ActionError action={action} title={failed} />
      <SubmitButton busy={action.busy} disabled={disabled} busyLabel={busyLabel}>
        {children}
      </SubmitButton>
    </>
  );
}

/** A refused creation, change or deletion: the message, and each problem of the body at its path. */
export function ProblemBox({ error, title }: { error: unknown; title: string }) {
  return (
    <div className="error" role="alert">
      <strong>{title}:</strong> {errorMessage(error)}
      {error instanceof ApiError && error.issues.length > 0 && (
        <ul>
          {error.issues.map((i, n) => (
            <li key={n}>
              {i.message} <code>{i.path}</code>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
