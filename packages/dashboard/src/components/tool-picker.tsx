import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { Empty, Json, Show, useLoad, type Loaded } from '../ui.tsx';
import { toggledSet } from './form.tsx';

/** A tool to choose, with its input schema when it is known. */
export interface ToolInfo {
  name: string;
  description: string;
  inputSchema: Record<string, unknown> | null;
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

/** One tool of a picker: a checkbox with its name and description, its input schema on expand. */
export function ToolChoice(props: {
  id: string;
  tool: ToolInfo;
  checked: boolean;
  onChange: (checked: boolean) => void;
}) {
  const t = props.tool;
  return (
    <li>
      <input type="checkbox" id={props.id} checked={props.checked} onChange={(e) => props.onChange(e.target.checked)} />
      <label htmlFor={props.id}>
        <code>{t.name}</code>
        {t.description && <span className="desc"> — {t.description}</span>}
      </label>
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
}: {
  tools: ToolInfo[];
  selected: Set<string>;
  onChange: (s: Set<string>) => void;
}) {
  const [query, setQuery] = useState('');
  const q = query.trim().toLowerCase();
  const shown = tools.filter((t) => !q || t.name.toLowerCase().includes(q) || t.description.toLowerCase().includes(q));
  const toggle = (name: string, on: boolean) => onChange(toggledSet(selected, name, on));
  return (
    <fieldset className="picker">
      <legend>Tools</legend>
      <p className="hint" id="picker-help">
        Choose the tools the server exposes; none chosen means all of the instance&apos;s tools.{' '}
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
}: {
  tools: Loaded<ToolInfo[]>;
  selected: Set<string>;
  onChange: (s: Set<string>) => void;
}) {
  return (
    <Show loaded={tools} what="the instance's tools">
      {(list) =>
        list.length === 0 ? (
          <Empty>This instance gives no tool (its connector does not enable MCP).</Empty>
        ) : (
          <ToolPicker tools={list} selected={selected} onChange={onChange} />
        )
      }
    </Show>
  );
}
