import { useState, type ReactNode } from 'react';
import { lockedGoverning, useGoverns } from '../powers.tsx';

type Mode = 'NORMAL' | 'SMART';

/** What the create and edit forms of a server both ask. */
interface ServerFields {
  name: string;
  description: string;
  mode: Mode;
  isPublic: boolean;
  perRequestAuth: boolean;
  /** NORMAL: `run_code` beside the tools (code mode). */
  codeMode: boolean;
  instanceId: string;
  selected: string[];
  /** Tools a person confirms before each call (`confirmTools`). */
  confirm: string[];
}

/** The fields of a server's form, starting from `initial` (a blank server, or the one being edited). */
export function useServerFields(initial: ServerFields) {
  const [name, setName] = useState(initial.name);
  const [description, setDescription] = useState(initial.description);
  const [mode, setMode] = useState<Mode>(initial.mode);
  const [isPublic, setIsPublic] = useState(initial.isPublic);
  const [perRequestAuth, setPerRequestAuth] = useState(initial.perRequestAuth);
  const [codeMode, setCodeMode] = useState(initial.codeMode);
  const [instanceId, setInstanceId] = useState(initial.instanceId);
  const [selected, setSelected] = useState<Set<string>>(new Set(initial.selected));
  const [confirm, setConfirm] = useState<Set<string>>(new Set(initial.confirm));
  return {
    name,
    setName,
    description,
    setDescription,
    mode,
    setMode,
    isPublic,
    setIsPublic,
    perRequestAuth,
    setPerRequestAuth,
    codeMode,
    setCodeMode,
    instanceId,
    setInstanceId,
    selected,
    setSelected,
    confirm,
    setConfirm,
  };
}

/** The server's name (a slug: it names the server in management calls), with what it does under it. */
export function ServerNameField({
  value,
  onValue,
  children,
}: {
  value: string;
  onValue: (v: string) => void;
  children: ReactNode;
}) {
  return (
    <>
      <label htmlFor="server-name">Name</label>
      <input
        id="server-name"
        required
        pattern="[a-z0-9][a-z0-9_\-]{0,99}"
        aria-describedby="server-name-help"
        value={value}
        onChange={(e) => onValue(e.target.value)}
      />
      <p className="hint" id="server-name-help">
        {children}
      </p>
    </>
  );
}

export function DescriptionField({ value, onValue }: { value: string; onValue: (v: string) => void }) {
  return (
    <>
      <label htmlFor="server-description">Description</label>
      <textarea
        id="server-description"
        rows={2}
        maxLength={1000}
        value={value}
        onChange={(e) => onValue(e.target.value)}
      />
    </>
  );
}

const modes: { mode: Mode; label: string }[] = [
  { mode: 'NORMAL', label: 'NORMAL: the tools of one connector instance (or the ones you choose)' },
  { mode: 'SMART', label: 'SMART: search, describe and execute any tool of the workspace' },
];

/** The server's mode, as creation and editing offer it. */
export function ModeChoice({ mode, onMode }: { mode: Mode; onMode: (m: Mode) => void }) {
  return (
    <fieldset>
      <legend>Mode</legend>
      {modes.map((m) => (
        <div className="radio" key={m.mode}>
          <input
            type="radio"
            id={`mode-${m.mode.toLowerCase()}`}
            name="mode"
            value={m.mode}
            checked={mode === m.mode}
            onChange={() => onMode(m.mode)}
          />
          <label htmlFor={`mode-${m.mode.toLowerCase()}`}>{m.label}</label>
        </div>
      ))}
    </fieldset>
  );
}

export function Check({
  id,
  checked,
  onChecked,
  children,
  locked = false,
}: {
  id: string;
  checked: boolean;
  onChecked: (v: boolean) => void;
  children: ReactNode;
  /** Shown as it is, not changeable: a governing field for a caller who may not change access policies. */
  locked?: boolean;
}) {
  return (
    <div className="check">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        disabled={locked}
        title={locked ? lockedGoverning : undefined}
        onChange={(e) => onChecked(e.target.checked)}
      />
      <label htmlFor={id}>{children}</label>
    </div>
  );
}

/**
 * Who may call the server and with which credential: public, and per-request authentication; then code mode on a
 * NORMAL server (`CodeModeChoice`).
 */
export function AccessChoice({
  fields: f,
}: {
  fields: Pick<
    ReturnType<typeof useServerFields>,
    'isPublic' | 'setIsPublic' | 'perRequestAuth' | 'setPerRequestAuth' | 'mode' | 'codeMode' | 'setCodeMode'
  >;
}) {
  const locked = !useGoverns();
  return (
    <>
      <Check id="server-public" checked={f.isPublic} onChecked={f.setIsPublic} locked={locked}>
        Public (callable without an API key)
      </Check>
      <Check id="server-per-request-auth" checked={f.perRequestAuth} onChecked={f.setPerRequestAuth}>
        Per-request authentication (callers may send their own upstream credential in X-Upstream-Authorization, used
        instead of the stored one for that call)
      </Check>
      {f.mode === 'NORMAL' && <CodeModeChoice checked={f.codeMode} onChecked={f.setCodeMode} locked={locked} />}
      {locked && <p className="hint">Public access and code mode are locked: {lockedGoverning}.</p>}
    </>
  );
}

/** Code mode on a NORMAL server (a SMART server always has it): `run_code` listed beside the tools. */
function CodeModeChoice(props: { checked: boolean; onChecked: (v: boolean) => void; locked: boolean }) {
  const { checked, onChecked, locked } = props;
  return (
    <Check id="server-code-mode" checked={checked} onChecked={onChecked} locked={locked}>
      Code mode (also list run_code: an agent&apos;s program calls the tools, each call checked as a direct one)
    </Check>
  );
}
