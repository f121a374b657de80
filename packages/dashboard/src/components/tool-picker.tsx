import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { Empty, Json, Show, useLoad, type Loaded } from '../ui.tsx';
import { toggledSet } from './form.tsx';
import { lockedGoverning, useGoverns } from '../powers.tsx';

/** A tool to choose, with its input schema when it is known. */
export interface ToolInfo {
  name: string;
  description: string;
  inputSchema: Record<string, unknown> | null;
  /** A person's confirmation of each call is suggested (an HTTP DELETE, a POST without idempotency key, destructive). */
  confirmSuggested?: boolean;
  /** What one call costs against cost quotas (default 1). */
  cost?: number;
}

/** A tool's cost against cost quotas, when it declares one other than 1. */
export function CostTag({ tool }: { tool: ToolInfo }) {
  if (tool.cost === undefined || tool.cost === 1) return null;
  return (
    <span className="tag" title="What one call costs against cost quotas">
      {tool.cost} cost units
    </span>
  );
}

/** Which tools a person confirms before each call (`confirmTools`), as a picker changes them. */
export interface ConfirmChoice {
  confirm: Set<string>;
  onConfirm: (s: Set<string>) => void;
}

/** The tools of `tools` whose confirmation is suggested: what a new server starts with. */
export const suggestedConfirmations = (tools: readonly ToolInfo[]) =>
  new Set(tools.filter((t) => t.confirmSuggested).map((t) => t.name));

/**
 * "Ask a person first" for one tool: calls of it wait for a person's "accept" in the MCP client (elicitation); marked
 * "suggested" where the rule suggests it. Disabled (and unchecked) while the tool is not exposed; locked (as it is)
 * for a caller who may not change access policies (`useGoverns`).
 */
export function ConfirmCheck(props: {
  id: string;
  tool: ToolInfo;
  checked: boolean;
  disabled?: boolean;
  /** The element naming the tool (the checkbox is described by it). */
  describedBy: string;
  onChange: (checked: boolean) => void;
}) {
  const { id, tool: t } = props;
  const locked = !useGoverns();
  return (
    <div className="check confirm">
      <input
        type="checkbox"
        id={id}
        checked={props.checked && !props.disabled}
        disabled={props.disabled || locked}
        title={locked ? lockedGoverning : undefined}
        aria-describedby={props.describedBy}
        onChange={(e) => props.onChange(e.target.checked)}
      />
      <label htmlFor={id}>
        Ask a person first
        {t.confirmSuggested && <span className="tag">suggested</span>}
      </label>
    </div>
  );
}

/**
 * The tools of a connector instance with their input schemas, as the catalog compiler makes them
 * (`GET /connector_instances/{id}/tools`); null without an instance.
 */
export function useInstanceTools(client: ManagementClient, instanceId: string): Loaded<ToolInfo[]> | null {
  const [tools] = useLoad(
    async () =>
      instanceId
        ? (await unwrap(client.GET('/connector_instances/{id}/tools', { params: { path: { id: instanceId } } }))).data
        : [],
    [client, instanceId],
  );
  return instanceId ? tools : null;
}

/**
 * One tool of a picker: a checkbox with its name and description, "Ask a person first" when the picker offers it,
 * its input schema on expand.
 */
export function ToolChoice(props: {
  id: string;
  tool: ToolInfo;
  checked: boolean;
  onChange: (checked: boolean) => void;
  /** Whether a person confirms its calls, and whether it is exposed (else the confirmation is disabled). */
  confirm?: { checked: boolean; exposed: boolean; onChange: (checked: boolean) => void };
}) {
  const t = props.tool;
  return (
    <li>
      <input type="checkbox" id={props.id} checked={props.checked} onChange={(e) => props.onChange(e.target.checked)} />
      <label htmlFor={props.id} id={`${props.id}-label`}>
        <code>{t.name}</code> <CostTag tool={t} />
        {t.description && <span className="desc"> — {t.description}</span>}
      </label>
      {props.confirm && (
        <ConfirmCheck
          id={`${props.id}-confirm`}
          tool={t}
          checked={props.confirm.checked}
          disabled={!props.confirm.exposed}
          describedBy={`${props.id}-label`}
          onChange={props.confirm.onChange}
        />
      )}
      <details>
        <summary>Input schema of {t.name}</summary>
        {t.inputSchema ? <Json value={t.inputSchema} label={`Input schema of ${t.name}`} /> : <p>Not available.</p>}
      </details>
    </li>
  );
}

/** A searchable list of checkboxes, one per tool, each with its input schema on expand (creation and editing). */
function ToolPicker({
  tools,
  selected,
  onChange,
  confirm,
}: {
  tools: ToolInfo[];
  selected: Set<string>;
  onChange: (s: Set<string>) => void;
  confirm?: ConfirmChoice | undefined;
}) {
  const [query, setQuery] = useState('');
  const q = query.trim().toLowerCase();
  const shown = tools.filter((t) => !q || t.name.toLowerCase().includes(q) || t.description.toLowerCase().includes(q));
  const toggle = (name: string, on: boolean) => onChange(toggledSet(selected, name, on));
  // None chosen: every tool is exposed, so each may be confirmed.
  const confirmOf = (name: string) =>
    confirm && {
      checked: confirm.confirm.has(name),
      exposed: selected.size === 0 || selected.has(name),
      onChange: (on: boolean) => confirm.onConfirm(toggledSet(confirm.confirm, name, on)),
    };
  return (
    <fieldset className="picker">
      <legend>Tools</legend>
      <p className="hint" id="picker-help">
        Choose the tools the server exposes; none chosen means all of the instance&apos;s tools.
        {confirm && (
          <>
            {' '}
            With “Ask a person first”, each call waits until a person accepts it in the MCP client (nothing is sent
            before); “suggested” marks what cannot be undone or safely sent twice.
          </>
        )}{' '}
        <span aria-live="polite">{selected.size} selected.</span>
      </p>
      <label htmlFor="tool-search">Search tools</label>
      <input
        id="tool-search"
        type="search"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        aria-describedby="picker-help"
      />
      {shown.length === 0 ? (
        <Empty>No tool matches “{query}”.</Empty>
      ) : (
        <ul className="tools">
          {shown.map((t) => (
            <ToolChoice
              key={t.name}
              id={`tool-${t.name}`}
              tool={t}
              checked={selected.has(t.name)}
              onChange={(checked) => toggle(t.name, checked)}
              confirm={confirmOf(t.name)}
            />
          ))}
        </ul>
      )}
    </fieldset>
  );
}

/** The picker of an instance's tools, once they are loaded ("Loading", the error, or that it gives none). */
export function InstanceToolPicker({
  tools,
  selected,
  onChange,
  confirm,
}: {
  tools: Loaded<ToolInfo[]>;
  selected: Set<string>;
  onChange: (s: Set<string>) => void;
  /** "Ask a person first" per tool (absent: not offered). */
  confirm?: ConfirmChoice | undefined;
}) {
  return (
    <Show loaded={tools} what="the instance's tools">
      {(list) =>
        list.length === 0 ? (
          <Empty>This instance gives no tool (its connector does not enable MCP).</Empty>
        ) : (
          <ToolPicker tools={list} selected={selected} onChange={onChange} confirm={confirm} />
        )
      }
    </Show>
  );
}

/** The names of `confirm` a server exposes with this selection (none selected: all of them). */
export const exposedConfirmations = (confirm: ReadonlySet<string>, selected: ReadonlySet<string>) =>
  [...confirm].filter((name) => selected.size === 0 || selected.has(name));
