import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Empty, SecretInput, Show, type Loaded } from '../ui.tsx';
import { ToolChoice, type ToolInfo } from './tool-picker.tsx';

/** One header sent to an external MCP server; the value is a secret (a password input, never shown back). */
interface HeaderRow {
  key: number;
  name: string;
  value: string;
}

/** An external MCP server being added in the create form. */
export interface ExternalDraft {
  key: number;
  name: string;
  url: string;
  headers: HeaderRow[];
  /** The preview of `POST /mcp_manager/load-tools-from-url`, once asked for. */
  loaded: Loaded<ToolInfo[]> | null;
  /** The tools to expose; none = all of them. */
  selected: string[];
}

type Change = (update: (d: ExternalDraft) => ExternalDraft) => void;

/** One draft's part of the form: its ids' prefix, its name for labels, the draft and how to change it. */
interface DraftProps {
  id: string;
  label: string;
  draft: ExternalDraft;
  onChange: Change;
}

let nextKey = 1;
const newKey = () => nextKey++;

const newExternalDraft = (): ExternalDraft => ({
  key: newKey(),
  name: '',
  url: '',
  headers: [],
  loaded: null,
  selected: [],
});

const headersOf = (d: ExternalDraft): Record<string, string> =>
  Object.fromEntries(d.headers.filter((h) => h.name.trim()).map((h) => [h.name.trim(), h.value]));

/** What the create body gets for the drafts with a URL. */
export function externalConfigs(
  drafts: ExternalDraft[],
): NonNullable<Schemas['CreateServerBody']['externalMcpConfigs']> {
  return drafts
    .filter((d) => d.url.trim())
    .map((d) => ({ name: d.name.trim(), url: d.url.trim(), headers: headersOf(d), tools: d.selected }));
}

const asTool = (t: Record<string, unknown>): ToolInfo => ({
  name: typeof t.name === 'string' ? t.name : '(unnamed)',
  description: typeof t.description === 'string' ? t.description : '',
  inputSchema:
    typeof t.inputSchema === 'object' && t.inputSchema !== null ? (t.inputSchema as Record<string, unknown>) : null,
});

/** The headers sent to one external server: a name and a write-only value each. */
function Headers({ id, label, draft, onChange }: DraftProps) {
  const setHeader = (key: number, patch: Partial<HeaderRow>) =>
    onChange((d) => ({ ...d, headers: d.headers.map((h) => (h.key === key ? { ...h, ...patch } : h)) }));
  return (
    <>
      {draft.headers.map((h, n) => (
        <div className="check" key={h.key} role="group" aria-label={`Header ${n + 1} of ${label}`}>
          <label htmlFor={`${id}-h${h.key}-name`}>Header name</label>
          <input
            id={`${id}-h${h.key}-name`}
            value={h.name}
            autoComplete="off"
            onChange={(e) => setHeader(h.key, { name: e.target.value })}
          />
          <label htmlFor={`${id}-h${h.key}-value`}>Header value</label>
          <SecretInput id={`${id}-h${h.key}-value`} value={h.value} onValue={(v) => setHeader(h.key, { value: v })} />
          <button
            type="button"
            className="secondary"
            aria-label={`Remove header ${n + 1} of ${label}`}
            onClick={() => onChange((d) => ({ ...d, headers: d.headers.filter((x) => x.key !== h.key) }))}
          >
            Remove
          </button>
        </div>
      ))}
      <p className="hint">Header values are secrets: they are sealed, and only their names are shown afterwards.</p>
    </>
  );
}

/** The tools an external server listed, to choose from (none chosen: all of them). */
function ListedTools({ id, label, draft, onChange }: DraftProps) {
  const toggle = (name: string, on: boolean) =>
    onChange((d) => ({ ...d, selected: on ? [...d.selected, name] : d.selected.filter((n) => n !== name) }));
  if (!draft.loaded) return null;
  return (
    <Show loaded={draft.loaded} what={`the tools of ${label}`}>
      {(tools) =>
        tools.length === 0 ? (
          <Empty>This server lists no tool.</Empty>
        ) : (
          <>
            <p className="hint" aria-live="polite">
              Choose the tools to expose; none chosen means all {tools.length}. {draft.selected.length} selected.
            </p>
            <ul className="tools" aria-label={`Tools of ${label}`}>
              {tools.map((t) => (
                <ToolChoice
                  key={t.name}
                  id={`${id}-tool-${t.name}`}
                  tool={t}
                  checked={draft.selected.includes(t.name)}
                  onChange={(checked) => toggle(t.name, checked)}
                />
              ))}
            </ul>
          </>
        )
      }
    </Show>
  );
}

function ExternalServer({
  client,
  draft,
  index,
  onChange,
  onRemove,
}: {
  client: ManagementClient;
  draft: ExternalDraft;
  index: number;
  onChange: Change;
  onRemove: () => void;
}) {
  const id = `ext-${draft.key}`;
  const label = draft.name.trim() || `external server ${index + 1}`;
  const load = () => {
    onChange((d) => ({ ...d, loaded: { state: 'loading' }, selected: [] }));
    unwrap(
      client.POST('/mcp_manager/load-tools-from-url', { body: { url: draft.url.trim(), headers: headersOf(draft) } }),
    ).then(
      (r) => onChange((d) => ({ ...d, loaded: { state: 'done', data: r.tools.map(asTool) } })),
      (error: unknown) => onChange((d) => ({ ...d, loaded: { state: 'error', error } })),
    );
  };
  return (
    <fieldset className="external">
      <legend>External MCP server {index + 1}</legend>
      <label htmlFor={`${id}-name`}>Name of external server {index + 1}</label>
      <input
        id={`${id}-name`}
        required
        pattern="[a-z0-9][a-z0-9_\-]{0,49}"
        aria-describedby={`${id}-name-help`}
        value={draft.name}
        onChange={(e) => onChange((d) => ({ ...d, name: e.target.value }))}
      />
      <p className="hint" id={`${id}-name-help`}>
        A slug; it prefixes the server&apos;s tools when a name is already taken.
      </p>
      <label htmlFor={`${id}-url`}>URL of external server {index + 1}</label>
      <input
        id={`${id}-url`}
        type="url"
        required
        placeholder="https://mcp.example.com/mcp"
        value={draft.url}
        onChange={(e) => onChange((d) => ({ ...d, url: e.target.value, loaded: null, selected: [] }))}
      />
      <Headers id={id} label={label} draft={draft} onChange={onChange} />
      <div className="check">
        <button
          type="button"
          className="secondary"
          onClick={() => onChange((d) => ({ ...d, headers: [...d.headers, { key: newKey(), name: '', value: '' }] }))}
        >
          Add a header
        </button>
        <button
          type="button"
          onClick={load}
          disabled={!draft.url.trim() || draft.loaded?.state === 'loading'}
          aria-label={`Load tools of ${label}`}
        >
          Load tools
        </button>
        <button type="button" className="secondary" onClick={onRemove} aria-label={`Remove server ${label}`}>
          Remove server
        </button>
      </div>
      <ListedTools id={id} label={label} draft={draft} onChange={onChange} />
    </fieldset>
  );
}

/** The create form's section of external MCP servers (`externalMcpConfigs`). */
export function ExternalServers({
  client,
  drafts,
  onChange,
}: {
  client: ManagementClient;
  drafts: ExternalDraft[];
  onChange: (update: (all: ExternalDraft[]) => ExternalDraft[]) => void;
}) {
  return (
    <section aria-labelledby="external-heading">
      <h2 id="external-heading">External MCP servers</h2>
      <p className="hint">Their tools are merged into the server; the worker lists them and proxies the calls.</p>
      {drafts.map((d, i) => (
        <ExternalServer
          key={d.key}
          client={client}
          draft={d}
          index={i}
          onChange={(update) => onChange((all) => all.map((x) => (x.key === d.key ? update(x) : x)))}
          onRemove={() => onChange((all) => all.filter((x) => x.key !== d.key))}
        />
      ))}
      <button type="button" className="secondary" onClick={() => onChange((all) => [...all, newExternalDraft()])}>
        Add an external MCP server
      </button>
    </section>
  );
}
