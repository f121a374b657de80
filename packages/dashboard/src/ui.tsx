import { useEffect, useRef, useState, type ButtonHTMLAttributes, type ReactNode, type Ref } from 'react';
import { ApiError, errorMessage } from './api.ts';
import { useMayChange } from './powers.tsx';

/** The state of one load: loading, failed or done. */
export type Loaded<T> = { state: 'loading' } | { state: 'error'; error: unknown } | { state: 'done'; data: T };

/**
 * Runs `load` on mount and when `deps` change; `reload` (or a change of `refresh`) runs it again. A reload keeps
 * showing what was loaded, and the forms under it, until the new data comes; a change of `deps` (another server,
 * other filters) shows "Loading" instead, never the previous inputs' data under the new ones. Errors replace the data.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], refresh: unknown = 0): [Loaded<T>, () => void] {
  const [result, setResult] = useState<Loaded<T>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  const loadedFor = useRef<unknown[] | null>(null);
  useEffect(() => {
    let live = true;
    const before = loadedFor.current;
    const sameInputs =
      before !== null && before.length === deps.length && deps.every((d, i) => Object.is(d, before[i]));
    loadedFor.current = deps;
    setResult((prev) => (sameInputs && prev.state === 'done' ? prev : { state: 'loading' }));
    load().then(
      (data) => live && setResult({ state: 'done', data }),
      (error: unknown) => live && setResult({ state: 'error', error }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick, refresh]);
  return [result, () => setTick((t) => t + 1)];
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status">
      Loading {what}…
    </p>
  );
}

/** An error as an alert; a refused request's problems (a 422's `errors`) each on a line: where, and what is wrong. */
export function ErrorBox({ error, title = 'Something went wrong' }: { error: unknown; title?: string }) {
  const issues = error instanceof ApiError ? error.issues : [];
  return (
    <div className="error" role="alert">
      <strong>{title}:</strong> {errorMessage(error)}
      {issues.length > 0 && (
        <ul>
          {issues.map((i) => (
            <li key={`${i.path} ${i.message}`}>
              {i.path ? <code>{i.path}</code> : null}
              {i.path ? ': ' : ''}
              {i.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** Renders `loaded` with `children` once done; loading and error states otherwise. */
export function Show<T>({
  loaded,
  what,
  children,
}: {
  loaded: Loaded<T>;
  what: string;
  children: (d: T) => ReactNode;
}) {
  if (loaded.state === 'loading') return <Loading what={what} />;
  if (loaded.state === 'error') return <ErrorBox error={loaded.error} title={`Could not load ${what}`} />;
  return <>{children(loaded.data)}</>;
}

/** Whether `text` was copied, and the click that copies it to the clipboard. */
function useCopy(text: string): [boolean, () => void] {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    navigator.clipboard.writeText(text).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  };
  return [copied, copy];
}

/** A button copying `text` (`label` names it: "Copy the MCP URL"). */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, copy] = useCopy(text);
  return (
    <button type="button" className="secondary" onClick={copy} aria-label={`Copy ${label}`}>
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

/** A block of text to copy, with a Copy button. */
export function CopyBlock({ label, text }: { label: string; text: string }) {
  const [copied, copy] = useCopy(text);
  return (
    <figure className="copy">
      <figcaption>
        <span>{label}</span>
        <button type="button" onClick={copy} aria-label={`Copy ${label}`}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </figcaption>
      <pre tabIndex={0} aria-label={label}>
        {text}
      </pre>
    </figure>
  );
}

export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre className="json" tabIndex={0} aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/**
 * A button that changes the workspace (pause, rotate, approve, set up…): nothing for a caller who may only read the
 * area it is in (`powers.tsx`). What only reads or stays in the page (Refresh, a filter, Cancel) is a plain button.
 */
export function ActionButton(props: Omit<ButtonHTMLAttributes<HTMLButtonElement>, 'type'>) {
  const may = useMayChange();
  if (!may) return null;
  return <button type="button" {...props} />;
}

/**
 * A destructive action behind an inline confirmation: the first click asks (focus moves to the confirming button),
 * Cancel or Escape backs out and gives the focus back. Nothing for a caller who may only read the area it is in.
 */
export function ConfirmButton({
  label,
  name,
  question,
  confirmLabel,
  busy = false,
  onConfirm,
}: {
  label: string;
  /** What it acts on, for the accessible names (`Revoke deploy-key`). */
  name: string;
  question: string;
  confirmLabel: string;
  busy?: boolean;
  onConfirm: () => void;
}) {
  const [asking, setAsking] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const triggerRef = useRef<HTMLButtonElement>(null);
  const backedOut = useRef(false);
  const may = useMayChange();
  useEffect(() => {
    if (asking) confirmRef.current?.focus();
    else if (backedOut.current) {
      backedOut.current = false;
      triggerRef.current?.focus();
    }
  }, [asking]);
  const cancel = () => {
    backedOut.current = true;
    setAsking(false);
  };
  if (!may) return null;
  if (!asking)
    return (
      <button
        type="button"
        className="secondary"
        ref={triggerRef}
        disabled={busy}
        onClick={() => setAsking(true)}
        aria-label={`${label} ${name}`}
      >
        {busy ? `${label}…` : label}
      </button>
    );
  return (
    <span
      className="confirm"
      role="group"
      aria-label={`Confirm: ${question}`}
      onKeyDown={(e) => {
        if (e.key === 'Escape') cancel();
      }}
    >
      <span>{question}</span>{' '}
      <button
        type="button"
        className="danger"
        ref={confirmRef}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>{' '}
      <button type="button" className="secondary" onClick={cancel}>
        Cancel
      </button>
    </span>
  );
}

/** When the document is visible (not a background tab, not minimised). */
export function useVisible(): boolean {
  const [visible, setVisible] = useState(document.visibilityState === 'visible');
  useEffect(() => {
    const update = () => setVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, []);
  return visible;
}

export const when = (iso: string | null | undefined, never = '—') => (iso ? new Date(iso).toLocaleString() : never);

/**
 * A key shown once (a new API key, a new workspace's first key): a warning, a read-only field to copy it from,
 * and a button to dismiss it. `children` says what it is and why it cannot be shown again.
 */
export function OneTimeKey(props: {
  id: string;
  title: string;
  label: string;
  value: string;
  onDone: () => void;
  children: ReactNode;
}) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="warning" role="status" aria-labelledby={`${props.id}-title`}>
      <h3 id={`${props.id}-title`}>{props.title}</h3>
      <p>{props.children}</p>
      <label htmlFor={props.id}>{props.label}</label>
      <div className="secret-key">
        <input id={props.id} readOnly value={props.value} autoComplete="off" onFocus={(e) => e.target.select()} />
        <button
          type="button"
          onClick={() =>
            navigator.clipboard.writeText(props.value).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied ? 'Copied' : 'Copy the key'}
        </button>
        <button type="button" className="secondary" onClick={props.onDone}>
          I have stored it
        </button>
      </div>
    </div>
  );
}

/**
 * A field for a secret value (a key, a credential, a header value): masked, never offered to the browser's form
 * history; `onValue` gets the text. `autoComplete="new-password"` for values being set (password managers do not
 * fill them in), `off` for keys entered to use.
 */
export function SecretInput({
  id,
  value,
  onValue,
  required = false,
  inputRef,
  autoComplete = 'new-password',
}: {
  id: string;
  value: string;
  onValue: (value: string) => void;
  required?: boolean;
  inputRef?: Ref<HTMLInputElement>;
  autoComplete?: 'new-password' | 'off';
}) {
  return (
    <input
      id={id}
      ref={inputRef}
      type="password"
      autoComplete={autoComplete}
      required={required}
      {...bound(value, onValue)}
    />
  );
}

/** A controlled text control's `value` and `onChange` (`onValue` gets the text): inputs, selects, text areas. */
export const bound = (value: string, onValue: (value: string) => void) => ({
  value,
  onChange: (e: { target: { value: string } }) => onValue(e.target.value),
});

/**
 * An action on one row of a list (delete, revoke): the row it runs on (its button shows busy) and, when it failed,
 * why. `run(row, call, onDone)` clears the last failure, runs `call`, then `onDone` (a reload of the list).
 */
export function useRowAction(): {
  pending: string | null;
  error: unknown;
  run: (row: string, call: () => Promise<unknown>, onDone: () => void) => void;
} {
  const [pending, setPending] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = (row: string, call: () => Promise<unknown>, onDone: () => void) => {
    setPending(row);
    setError(null);
    call()
      .then(onDone, (err: unknown) => setError(err))
      .finally(() => setPending(null));
  };
  return { pending, error, run };
}
