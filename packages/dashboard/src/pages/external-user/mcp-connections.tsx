import { useRef, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { useAction, type Action } from '../../components/action.ts';
import { ActionOutcome, InlineRows, SelectField, SubmitButton, TextField } from '../../components/form.tsx';
import { Link } from '../../router.tsx';
import { ConfirmButton, Empty, SecretInput } from '../../ui.tsx';
import { Section } from '../../components/section.tsx';

interface External {
  serverId: string;
  serverName: string;
  external: string;
  headerNames: string[];
}

interface HeaderRow {
  key: number;
  name: string;
  value: string;
}

const keyOf = (x: External) => `${x.serverId}/${x.external}`;

const labelOf = (x: External) => `${x.external} (of ${x.serverName})`;

/** The header rows of the chosen external server: its configured header names, values to type. */
function useHeaderRows() {
  const nextKey = useRef(1);
  const rowsFor = (x: External | undefined): HeaderRow[] =>
    (x && x.headerNames.length > 0 ? x.headerNames : ['']).map((name) => ({ key: nextKey.current++, name, value: '' }));
  const add = (rows: HeaderRow[]) => [...rows, { key: nextKey.current++, name: '', value: '' }];
  return { rowsFor, add };
}

function HeaderFields({
  row,
  index,
  onRow,
}: {
  row: HeaderRow;
  index: number;
  onRow: (patch: Partial<HeaderRow>) => void;
}) {
  return (
    <>
      <TextField
        inline
        id={`mcp-header-name-${row.key}`}
        label={`Header ${index + 1} name`}
        autoComplete="off"
        value={row.name}
        onValue={(name) => onRow({ name })}
      />
      <div className="field">
        <label htmlFor={`mcp-header-value-${row.key}`}>Header {index + 1} value</label>
        <SecretInput id={`mcp-header-value-${row.key}`} value={row.value} onValue={(value) => onRow({ value })} />
      </div>
    </>
  );
}

/** The headers sent for the user to one external MCP server of one of the workspace's servers. */
function McpHeadersForm(props: { client: ManagementClient; user: string; externals: External[]; action: Action }) {
  const { client, user, externals, action } = props;
  const rowsOf = useHeaderRows();
  const [chosen, setChosen] = useState(externals[0] ? keyOf(externals[0]) : '');
  const target = externals.find((x) => keyOf(x) === chosen);
  const [rows, setRows] = useState<HeaderRow[]>(() => rowsOf.rowsFor(target));
  const choose = (key: string) => {
    setChosen(key);
    setRows(rowsOf.rowsFor(externals.find((x) => keyOf(x) === key)));
  };
  const path = target && { name: user, serverId: target.serverId, external: target.external };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!target || !path) return;
    const headers = Object.fromEntries(rows.filter((r) => r.name.trim()).map((r) => [r.name.trim(), r.value]));
    const url = '/external_users/{name}/mcp_connections/{serverId}/{external}' as const;
    action.run(() => unwrap(client.PUT(url, { params: { path }, body: { headers } })), {
      failed: 'Not saved',
      then: (saved) => {
        setRows((rs) => rs.map((r) => ({ ...r, value: '' })));
        return `Headers for ${labelOf(target)} saved: ${saved.header_names.join(', ') || 'none'}.`;
      },
    });
  };
  const remove = () => {
    if (!target || !path) return;
    const url = '/external_users/{name}/mcp_connections/{serverId}/{external}' as const;
    action.run(() => unwrap(client.DELETE(url, { params: { path } })), {
      row: 'remove',
      failed: 'Not removed',
      then: () => `Headers for ${labelOf(target)} removed.`,
    });
  };
  return (
    <form className="form" onSubmit={submit} aria-labelledby="mcp-connections-title">
      <SelectField
        id="mcp-external"
        label="External MCP server"
        value={chosen}
        onValue={choose}
        options={externals.map((x) => ({ value: keyOf(x), label: labelOf(x) }))}
      />
      <fieldset>
        <legend>Headers (values write-only)</legend>
        <InlineRows
          rows={rows}
          fields={(r, i) => (
            <HeaderFields
              row={r}
              index={i}
              onRow={(patch) => setRows((rs) => rs.map((x) => (x.key === r.key ? { ...x, ...patch } : x)))}
            />
          )}
          canRemove={rows.length > 1}
          removeLabel={(_, i) => `Remove header ${i + 1}`}
          onRemove={(r) => setRows((rs) => rs.filter((x) => x.key !== r.key))}
          addLabel="Add a header"
          onAdd={() => setRows(rowsOf.add)}
        />
      </fieldset>
      <div className="buttons">
        <SubmitButton busy={action.busy} disabled={!target || !rows.some((r) => r.name.trim())} busyLabel="Saving…">
          Save headers
        </SubmitButton>
        {target && (
          <ConfirmButton
            label="Remove headers"
            name={`for ${labelOf(target)}`}
            question={`Remove ${user}’s headers for ${labelOf(target)}?`}
            confirmLabel="Remove the headers"
            busy={action.pending === 'remove'}
            onConfirm={remove}
          />
        )}
      </div>
    </form>
  );
}

export function McpConnections({
  client,
  user,
  servers,
}: {
  client: ManagementClient;
  user: string;
  servers: Schemas['McpServerSummary'][];
}) {
  const externals: External[] = servers.flatMap((s) =>
    s.externalMcpConfigs.map((c) => ({
      serverId: s.id,
      serverName: s.name,
      external: c.name,
      headerNames: c.headerNames,
    })),
  );
  const action = useAction();
  return (
    <Section id="mcp-connections" title="MCP connections">
      <p className="hint">
        The headers sent for this user to an external MCP server of one of your MCP servers, instead of the configured
        ones. Values are write-only, and Toolplane does not list what is set: saving replaces the user’s headers for
        that server, removing deletes them.
      </p>
      {externals.length === 0 ? (
        <Empty>
          None of your <Link href="/servers">MCP servers</Link> uses an external MCP server.
        </Empty>
      ) : (
        <McpHeadersForm client={client} user={user} externals={externals} action={action} />
      )}
      <ActionOutcome action={action} title="Not saved" />
    </Section>
  );
}
